/**
 * The Node-compatibility layer inside a real isolate (the runtime's own
 * `DeploymentIsolate`): the built-ins it gives work, the ones it refuses
 * throw naming the module, and it grants nothing the isolate did not have
 * (no host env, no file system, no sockets, no processes, no threads).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DeploymentIsolate } from '@flotilla/runtime';
import { ISOLATE_BUNDLE_OPTIONS } from '@flotilla/sdk/build';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_COMPAT_MODULES } from './modules.ts';
import { PROVIDED_MODULES } from './names.ts';

/** The app: installs the layer, then answers each `?q=` with what the probe returns. */
const APP = `
import { installNodeCompat } from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))};
installNodeCompat({ env: { GREETING: 'hello' } });
// The global require the layer installs (a bare require() would be esbuild's).
const need = (name) => globalThis.require(name);
const probes = {
  buffer: () => need('node:buffer').Buffer.from('flotilla').toString('base64'),
  bufferIndexOf: () => need('buffer').Buffer.from('abcdef').indexOf(new TextEncoder().encode('cd')),
  util: async () => {
    const util = need('node:util');
    const later = util.promisify((value, callback) => callback(null, value * 2));
    return String(await later(21)) + ' ' + util.format('%s=%d', 'n', 7);
  },
  events: () => {
    const { EventEmitter } = need('node:events');
    const emitter = new EventEmitter();
    let got = '';
    emitter.on('x', (v) => { got = v; });
    emitter.emit('x', 'fired');
    return got;
  },
  path: () => need('node:path').join('/a/b', '../c', 'd.txt'),
  asyncHooks: () => typeof need('node:async_hooks').AsyncLocalStorage,
  sameModule: () => String(need('node:util') === need('util')),
  env: () => JSON.stringify(process.env),
  cwd: () => process.cwd(),
  formData: () => {
    const form = new FormData();
    form.append('a', '1');
    form.append('b', '2');
    form.append('a', '3');
    form.set('b', '4');
    return JSON.stringify([form.getAll('a'), form.get('b'), [...form.keys()], String(form)]);
  },
};
probes.hostHooks = () =>
  JSON.stringify(['binding', 'dlopen', 'kill', 'exit', 'mainModule'].map((k) => typeof process[k]));
for (const name of ['fs', 'node:fs/promises', 'node:net', 'tls', 'node:child_process', 'worker_threads', 'node:vm', 'node:http2', 'node:nonexistent', 'node:module', 'node:os', 'node:http']) {
  probes['refuse:' + name] = () => { need(name); return 'loaded'; };
}
export default {
  async fetch(request) {
    const q = new URL(request.url).searchParams.get('q');
    try {
      return new Response(String(await probes[q]()));
    } catch (error) {
      return new Response(String(error && error.message), { status: 500 });
    }
  },
};
`;

let iso: DeploymentIsolate;

beforeAll(async () => {
  const result = await build({
    stdin: { contents: `${APP}`, resolveDir: import.meta.dirname, loader: 'js' },
    ...ISOLATE_BUNDLE_OPTIONS,
    globalName: 'app',
  });
  const code = `${result.outputFiles[0]?.text}\nglobalThis.Flotilla.serve(app.default);`;
  iso = await DeploymentIsolate.load({
    deploymentId: 'node-compat',
    code,
    bundleHash: createHash('sha256').update(code).digest('hex'),
    backends: {},
  });
});

afterAll(() => iso?.dispose());

async function probe(q: string): Promise<{ status: number; body: string }> {
  const res = await iso.render({
    method: 'GET',
    url: `http://app.test/?q=${encodeURIComponent(q)}`,
    headers: [],
    body: null,
  });
  return { status: res.status, body: new TextDecoder().decode(res.body) };
}

describe('@flotilla/node-compat in an isolate', () => {
  it.each([
    ['buffer', 'ZmxvdGlsbGE='],
    ['bufferIndexOf', '2'],
    ['util', '42 n=7'],
    ['events', 'fired'],
    ['path', '/a/c/d.txt'],
    ['asyncHooks', 'function'],
    ['sameModule', 'true'],
    ['cwd', '/'],
    ['formData', '[["1","3"],"4",["a","b","a"],"[object FormData]"]'],
  ])('gives %s', async (q, expected) => {
    expect(await probe(q)).toEqual({ status: 200, body: expected });
  });

  it("has none of Node's ways out of a process (binding, dlopen, kill, exit, mainModule)", async () => {
    expect(JSON.parse((await probe('hostHooks')).body)).toEqual([
      'undefined',
      'undefined',
      'undefined',
      'undefined',
      'undefined',
    ]);
  });

  it('names what it provides (for build tools) exactly as it provides it', () => {
    expect([...PROVIDED_MODULES].sort()).toEqual(Object.keys(NODE_COMPAT_MODULES).sort());
  });

  it("sees only the build's env, never the host's", async () => {
    expect(JSON.parse((await probe('env')).body)).toEqual({ GREETING: 'hello' });
  });

  it.each([
    ['fs', "node:fs is not available in Flotilla's sandbox (an isolate has no file system)"],
    [
      'node:fs/promises',
      "node:fs/promises is not available in Flotilla's sandbox (an isolate has no file system)",
    ],
    [
      'node:net',
      "node:net is not available in Flotilla's sandbox (an isolate has no sockets; fetch() a declared backend instead)",
    ],
    [
      'tls',
      "node:tls is not available in Flotilla's sandbox (an isolate has no sockets; fetch() a declared backend instead)",
    ],
    [
      'node:child_process',
      "node:child_process is not available in Flotilla's sandbox (an isolate cannot start processes)",
    ],
    [
      'worker_threads',
      "node:worker_threads is not available in Flotilla's sandbox (an isolate cannot start threads)",
    ],
    ['node:vm', "node:vm is not available in Flotilla's sandbox (an isolate cannot make contexts)"],
    ['node:http2', "node:http2 is not available in Flotilla's sandbox (an isolate has no sockets)"],
    [
      'node:nonexistent',
      "node:nonexistent is not available in Flotilla's sandbox (Flotilla does not provide it)",
    ],
    [
      'node:module',
      "node:module is not available in Flotilla's sandbox (Flotilla does not provide it)",
    ],
    ['node:os', "node:os is not available in Flotilla's sandbox (Flotilla does not provide it)"],
    [
      'node:http',
      "node:http is not available in Flotilla's sandbox (Flotilla does not provide it)",
    ],
  ])('refuses %s, naming it', async (name, message) => {
    expect(await probe(`refuse:${name}`)).toEqual({ status: 500, body: message });
  });
});
