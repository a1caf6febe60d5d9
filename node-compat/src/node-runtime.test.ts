/**
 * The Node runtime (`createNodeRuntime`) inside a real isolate: the
 * CommonJS loader over a module map (relative requires, JSON, the module
 * cache, cycles, `__dirname`), Node's `http` objects over web
 * Request/Response (headers, a streamed request body, a response streamed
 * as written), streams to and from web streams, `crypto` hashes against
 * Node's own, `crypto.subtle.digest`, `process` as an EventEmitter, and a
 * `Request` that takes a Node stream as its body.
 */
import { createHash, createHmac } from 'node:crypto';
import { join } from 'node:path';
import { DeploymentIsolate } from '@flotilla/runtime';
import { ISOLATE_BUNDLE_OPTIONS } from '@flotilla/sdk/build';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const APP = `
import { createNodeRuntime, MODULE_PARAMS, NodeResponse, toNodeRequest } from ${JSON.stringify(join(import.meta.dirname, 'index.ts'))};
const fn = (body) => new Function(...MODULE_PARAMS, body);
const map = {
  modules: {
    '/srv/app/main.js': fn(\`
      const helper = require('./lib/helper');
      const again = require('./lib/helper.js');
      exports.same = helper === again;
      exports.config = require('../config.json');
      exports.dir = __dirname + ' ' + __filename;
      exports.cycle = require('./lib/a').fromB;
      exports.pkg = require('left-pad')('7', 3, '0');
      exports.Request = Request;
    \`),
    '/srv/app/lib/helper.js': fn("module.exports = { n: (globalThis.loads = (globalThis.loads || 0) + 1) };"),
    '/srv/app/lib/a.js': fn("exports.early = 'a-early'; exports.fromB = require('./b').seen;"),
    '/srv/app/lib/b.js': fn("exports.seen = require('./a').early;"),
    '/srv/node_modules/left-pad/index.js': fn("module.exports = (s, n, c) => String(s).padStart(n, c);"),
  },
  texts: { '/srv/config.json': '{"region":"eu"}' },
  resolved: { '/srv/app/main.js': { 'left-pad': '/srv/node_modules/left-pad/index.js' } },
};
let runtime;
let main;
const need = (name) => runtime.require(name);
const text = async (stream) => new Response(stream).text();
const probes = {
  loader: () => JSON.stringify({ same: main.same, loads: globalThis.loads, config: main.config, dir: main.dir, cycle: main.cycle, pkg: main.pkg }),
  hashes: () => {
    const c = need('crypto');
    return [c.createHash('sha256').update('flotilla').digest('hex'), c.createHash('md5').update('flotilla').digest('base64'), c.createHmac('sha1', 'key').update('flot').update('illa').digest('hex')].join(' ');
  },
  subtle: async () => {
    const out = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('flotilla')));
    return [...out].map((b) => b.toString(16).padStart(2, '0')).join('');
  },
  processEvents: () => {
    const p = need('process');
    let got = '';
    p.on('custom', (v) => { got = v; });
    p.emit('custom', 'fired');
    return got + ' ' + p.listeners('none').length + ' ' + p.cwd();
  },
  streams: async () => {
    const { Readable } = need('stream');
    const node = Readable.fromWeb(new Response('from web').body);
    const chunks = [];
    for await (const chunk of node) chunks.push(String(chunk));
    const back = await text(Readable.toWeb(Readable.from(['to ', 'web'])));
    return chunks.join('') + ' / ' + back;
  },
  http: async (request) => {
    const req = toNodeRequest(new Request('http://app.test/echo?x=1', { method: 'POST', headers: { cookie: 'a=1', 'x-b': '2' }, body: 'payload', duplex: 'half' }));
    const res = new NodeResponse(req);
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      res.statusCode = 201;
      res.setHeader('x-echo', [req.method, req.url, req.headers.cookie, req.headers['x-b'], req.headers.host].join(' '));
      res.appendHeader('set-cookie', 'k=1');
      res.appendHeader('set-cookie', 'k2=2');
      res.write('got:');
      res.end(body);
    });
    const response = await res.response;
    return [response.status, response.headers.get('x-echo'), response.headers.get('set-cookie'), await response.text()].join(' | ');
  },
  streamedResponse: async () => {
    const res = new NodeResponse(toNodeRequest(new Request('http://app.test/')));
    res.write('first ');
    const response = await res.response;
    const reader = response.body.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    res.end('second');
    let rest = '';
    for (;;) { const { done, value } = await reader.read(); if (done) break; rest += new TextDecoder().decode(value); }
    return first + '|' + rest;
  },
  // Starts stream work (scheduled with nextTick) and answers before it runs.
  leaveWork: () => {
    const { Readable } = need('stream');
    Readable.from(['late']).on('data', () => {});
    return 'answered';
  },
  nodeStreamBody: async () => {
    const { Readable } = need('stream');
    const r = new main.Request('http://app.test/', { method: 'POST', body: Readable.from(['a', 'b', 'c']), duplex: 'half' });
    return await r.text();
  },
};
export default {
  async fetch(request) {
    if (runtime === undefined) {
      runtime = createNodeRuntime({ map, env: {}, cwd: '/srv' });
      main = runtime.require('/srv/app/main.js');
    }
    const q = new URL(request.url).searchParams.get('q');
    try {
      return new Response(String(await probes[q](request)));
    } catch (error) {
      return new Response(String(error && error.stack), { status: 500 });
    }
  },
};
`;

let iso: DeploymentIsolate;

beforeAll(async () => {
  const result = await build({
    stdin: { contents: APP, resolveDir: import.meta.dirname, loader: 'js' },
    ...ISOLATE_BUNDLE_OPTIONS,
    globalName: 'app',
  });
  const code = `${result.outputFiles[0]?.text}\nglobalThis.Flotilla.serve(app.default);`;
  iso = await DeploymentIsolate.load({
    deploymentId: 'node-runtime',
    code,
    bundleHash: createHash('sha256').update(code).digest('hex'),
    backends: {},
  });
}, 60_000);

afterAll(() => iso?.dispose());

async function probe(q: string): Promise<string> {
  const res = await iso.render({
    method: 'GET',
    url: `http://app.test/?q=${q}`,
    headers: [],
    body: null,
  });
  const body = new TextDecoder().decode(res.body);
  expect(res.status, body).toBe(200);
  return body;
}

describe('the Node runtime in an isolate', () => {
  it('loads CommonJS from the module map: relative paths, JSON, one instance per file, cycles, resolved packages', async () => {
    expect(JSON.parse(await probe('loader'))).toEqual({
      same: true,
      loads: 1,
      config: { region: 'eu' },
      dir: '/srv/app /srv/app/main.js',
      cycle: 'a-early',
      pkg: '007',
    });
  });

  it("hashes as Node's crypto does (createHash, createHmac, crypto.subtle.digest)", async () => {
    expect(await probe('hashes')).toBe(
      [
        createHash('sha256').update('flotilla').digest('hex'),
        createHash('md5').update('flotilla').digest('base64'),
        createHmac('sha1', 'key').update('flotilla').digest('hex'),
      ].join(' '),
    );
    expect(await probe('subtle')).toBe(createHash('sha256').update('flotilla').digest('hex'));
  });

  it('gives a process that is an EventEmitter, with the map as its cwd', async () => {
    expect(await probe('processEvents')).toBe('fired 0 /srv');
  });

  it('turns Node streams into web streams and back', async () => {
    expect(await probe('streams')).toBe('from web / to web');
  });

  it("gives Node's req/res over a web request and response", async () => {
    expect(await probe('http')).toBe(
      '201 | POST /echo?x=1 a=1 2 app.test | k=1, k2=2 | got:payload',
    );
  });

  it('answers once the head is sent, streaming what is written after', async () => {
    expect(await probe('streamedResponse')).toBe('first |second');
  });

  it('keeps streams working in later renders after a render answered with stream work pending', async () => {
    expect(await probe('leaveWork')).toBe('answered');
    expect(await probe('streams')).toBe('from web / to web');
    expect(await probe('http')).toMatch(/^201 \| /);
  });

  it('takes a Node stream as a Request body, as Node does', async () => {
    expect(await probe('nodeStreamBody')).toBe('abc');
  });
});
