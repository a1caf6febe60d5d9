/**
 * The Node runtime of `@flotilla/node-compat` (what Next.js's Node-runtime
 * pages run on inside the isolate) grants nothing the isolate did not have.
 * A bundle built by `flotilla build`'s own bundler runs the runtime over a
 * small module map (as the Next.js connector writes one) in a real isolate,
 * and tries to get out through every module the layer gives:
 *
 * - `fs` reads only the map: `/etc/passwd`, the host's `/proc`, paths out
 *   of the map by `..`, `file://` URLs all fail; every write fails naming
 *   `node:fs`;
 * - `require` reaches only the map and the layer's built-ins: no host path,
 *   no `node_modules` lookup on the host;
 * - `vm` runs code in the isolate's own realm: the Function constructor
 *   reached through a context gives the isolate's `process` (no `binding`,
 *   `dlopen`, host env), never the host's;
 * - `net`, `tls`, `child_process`, `worker_threads`, `http.request` throw,
 *   naming the module;
 * - `process.env` is the build's env, never the host's.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeploymentIsolate } from '@flotilla/runtime';
import { buildApp } from '@flotilla/sdk/build';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NODE_COMPAT = join(import.meta.dirname, '..', '..', 'node-compat', 'src', 'index.ts');

/** The app: a Node runtime over a two-file map; `?q=` runs a probe, answering what it returns or throws. */
const APP = `
import { createNodeRuntime, MODULE_PARAMS } from ${JSON.stringify(NODE_COMPAT)};
const map = {
  modules: {
    '/app/server/entry.js': new Function(...MODULE_PARAMS, \`
      exports.data = require('./data.json');
      exports.req = require;
      exports.where = __dirname;
    \`),
  },
  texts: { '/app/server/data.json': '{"hello":"map"}', '/app/server/manifest.js': 'self.__M = { ok: true };' },
  resolved: {},
};
let need;
let fs;
const probes = {
  mapRead: () => fs.readFileSync('/app/server/data.json', 'utf8'),
  relativeRead: () => fs.readFileSync('server/data.json', 'utf8'),
  passwd: () => fs.readFileSync('/etc/passwd', 'utf8'),
  procEnviron: () => fs.readFileSync('/proc/self/environ', 'utf8'),
  dotdot: () => fs.readFileSync('/app/server/../../../../etc/passwd', 'utf8'),
  fileUrl: () => fs.readFileSync('file:///etc/hostname', 'utf8'),
  exists: () => JSON.stringify(['/etc/passwd', '/app/server/data.json', '/'].map((p) => fs.existsSync(p))),
  listRoot: () => JSON.stringify(fs.readdirSync('/')),
  write: () => fs.writeFileSync('/tmp/flotilla-escape', 'x'),
  mkdir: () => fs.mkdirSync('/tmp/flotilla-escape-dir'),
  promisesWrite: async () => need('fs/promises').writeFile('/tmp/flotilla-escape', 'x'),
  requireHost: () => JSON.stringify(need('/etc/passwd')),
  requirePackage: () => typeof need('isolated-vm'),
  requireDotdot: () => typeof need('../../../../../usr/lib/node_modules/npm/index.js'),
  vmFunction: () => {
    const p = need('vm').runInNewContext('this.constructor.constructor("return typeof process === \\'undefined\\' ? null : process")()', {});
    return JSON.stringify([typeof p?.binding, typeof p?.dlopen, typeof p?.kill, p?.env?.ONLY ?? null, Object.keys(p?.env ?? {})]);
  },
  vmThis: () => JSON.stringify(need('vm').runInThisContext('[typeof require, typeof globalThis.process?.binding, typeof globalThis.fetch]')),
  manifest: () => {
    const ctx = {};
    need('vm').runInNewContext(fs.readFileSync('/app/server/manifest.js', 'utf8'), ctx);
    return JSON.stringify(ctx.__M);
  },
  env: () => JSON.stringify(need('process').env),
  net: () => need('net').connect(22, '127.0.0.1'),
  tls: () => need('node:tls').connect(443, 'example.com'),
  childProcess: () => need('child_process').execSync('id'),
  workerThreads: () => new (need('worker_threads').Worker)('x'),
  httpRequest: () => need('http').request('http://127.0.0.1:22/'),
  unknown: () => need('node:definitely_not_a_module'),
};
export default {
  async fetch(request) {
    const q = new URL(request.url).searchParams.get('q');
    if (need === undefined) {
      const runtime = createNodeRuntime({ map, env: { ONLY: 'this' }, cwd: '/app' });
      need = runtime.require('/app/server/entry.js').req;
      fs = need('fs');
    }
    try {
      return new Response(String(await probes[q]()));
    } catch (error) {
      return new Response(String(error && error.message), { status: 500 });
    }
  },
};
`;

let work: string;
let iso: DeploymentIsolate;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'flotilla-node-escape-'));
  const entry = join(work, 'app.mjs');
  await writeFile(entry, APP);
  const { bundlePath } = await buildApp({
    entry,
    outDir: join(work, 'out'),
    name: 'node-escape',
    framework: 'none',
  });
  const code = await readFile(bundlePath, 'utf8');
  iso = await DeploymentIsolate.load({
    deploymentId: 'node-escape',
    code,
    bundleHash: createHash('sha256').update(code).digest('hex'),
    backends: {},
  });
}, 120_000);

afterAll(async () => {
  iso?.dispose();
  await rm(work, { recursive: true, force: true });
});

async function probe(q: string): Promise<{ status: number; body: string }> {
  const res = await iso.render({
    method: 'GET',
    url: `http://escape.test/?q=${encodeURIComponent(q)}`,
    headers: [],
    body: null,
  });
  return { status: res.status, body: new TextDecoder().decode(res.body) };
}

describe('the Node runtime grants nothing the isolate did not have', () => {
  it('fs reads the module map, by absolute and cwd-relative path', async () => {
    expect(await probe('mapRead')).toEqual({ status: 200, body: '{"hello":"map"}' });
    expect(await probe('relativeRead')).toEqual({ status: 200, body: '{"hello":"map"}' });
    expect(await probe('listRoot')).toEqual({ status: 200, body: '["app"]' });
    expect(await probe('exists')).toEqual({ status: 200, body: '[false,true,true]' });
  });

  it.each([
    ['passwd', "ENOENT: no such file or directory, open '/etc/passwd'"],
    ['procEnviron', "ENOENT: no such file or directory, open '/proc/self/environ'"],
    ['dotdot', "ENOENT: no such file or directory, open '/etc/passwd'"],
    ['fileUrl', "ENOENT: no such file or directory, open '/etc/hostname'"],
  ])('fs cannot read the host (%s)', async (q, message) => {
    expect(await probe(q)).toEqual({ status: 500, body: message });
  });

  it.each(['write', 'mkdir', 'promisesWrite'])(
    'fs refuses writes, naming node:fs (%s)',
    async (q) => {
      expect(await probe(q)).toEqual({
        status: 500,
        body: "node:fs writes are not available in Flotilla's sandbox (the deployment's files are read-only)",
      });
    },
  );

  it('require reaches only the map and the built-ins', async () => {
    expect((await probe('requireHost')).body).toMatch(/^Cannot find module '\/etc\/passwd'/);
    expect((await probe('requireDotdot')).body).toMatch(/^Cannot find module '\.\.\/\.\.\//);
    expect((await probe('requirePackage')).body).toMatch(/^Cannot find module 'isolated-vm'/);
  });

  it("vm runs in the isolate's realm: no host process through a context's Function", async () => {
    const vmFunction = await probe('vmFunction');
    expect(vmFunction.status).toBe(200);
    const [binding, dlopen, kill, only, envKeys] = JSON.parse(vmFunction.body);
    expect([binding, dlopen, kill]).toEqual(['undefined', 'undefined', 'undefined']);
    // The isolate's own global process (no env of the host's), or none.
    expect(only).toBeNull();
    expect(envKeys).not.toContain('PATH');
    expect(JSON.parse((await probe('vmThis')).body)).toEqual([
      'undefined',
      'undefined',
      'function',
    ]);
    expect(await probe('manifest')).toEqual({ status: 200, body: '{"ok":true}' });
  });

  it("process.env is the build's env, never the host's", async () => {
    expect(await probe('env')).toEqual({ status: 200, body: '{"ONLY":"this"}' });
  });

  it.each([
    [
      'net',
      "node:net (connect) is not available in Flotilla's sandbox (an isolate has no sockets; fetch() a declared backend instead)",
    ],
    [
      'tls',
      "node:tls (connect) is not available in Flotilla's sandbox (an isolate has no sockets; fetch() a declared backend instead)",
    ],
    [
      'childProcess',
      "node:child_process (execSync) is not available in Flotilla's sandbox (an isolate cannot start processes)",
    ],
    [
      'workerThreads',
      "node:worker_threads (Worker) is not available in Flotilla's sandbox (an isolate cannot start threads)",
    ],
    [
      'httpRequest',
      "node:http request() is not available in Flotilla's sandbox (an isolate has no sockets; fetch() a declared backend instead)",
    ],
    [
      'unknown',
      "node:definitely_not_a_module is not available in Flotilla's sandbox (Flotilla does not provide it)",
    ],
  ])('%s throws, naming the module', async (q, message) => {
    expect(await probe(q)).toEqual({ status: 500, body: message });
  });
});
