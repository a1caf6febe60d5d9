import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { ManifestRoute } from '@flotilla/manifest';
import { InProcessTransport } from '@flotilla/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { Shield } from './shield.ts';
import { SiteDirectory, type SiteEnvironment } from './site-directory.ts';
import { FakeSource, manifest } from './test-sites.ts';

// No scheduler listens on the transport: whatever is answered, the shield answered itself.

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function backend(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise((r) => {
        server.close(r);
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

function route(id: number, path: string, over: Partial<ManifestRoute>): ManifestRoute {
  return {
    id,
    criteria: { path, method: ['GET'] },
    fallback: false,
    action: { kind: 'render' },
    headerOps: [],
    ...over,
  };
}

async function shieldFor(
  routes: ManifestRoute[],
  backends: Record<string, string>,
  env: Partial<SiteEnvironment> = {},
  edgeRoutes: ConstructorParameters<typeof Shield>[0]['edgeRoutes'] = {},
) {
  const m = { ...manifest('edge', routes), backends };
  const source = new FakeSource([['edge-1', m]]);
  source.set([{ app: 'edge', env: 'production', deploymentId: 'edge-1', history: [], ...env }]);
  const sites = new SiteDirectory({ source });
  await sites.start();
  const shield = new Shield({
    transport: new InProcessTransport(),
    region: 'unit',
    port: 0,
    sites,
    requestTimeoutMs: 2000,
    edgeRoutes,
  });
  cleanups.push(() => shield.drain());
  const { url } = await shield.listen();
  return (path: string, headers: Record<string, string> = {}) => get(url, path, headers);
}

interface Answer {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/** A GET with Host `edge.localhost` (fetch cannot set Host). */
function get(base: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      { headers: { host: 'edge.localhost', ...headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: {
              get: (name) => {
                const v = res.headers[name.toLowerCase()];
                return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
              },
            },
            text: async () => body,
          });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('routes answered at the edge (no scheduler at all)', () => {
  it("proxies to the environment's backend origin when it re-points one", async () => {
    const declared = await backend((_req, res) => res.end('declared'));
    const repointed = await backend((req, res) => res.end(`repointed ${req.url}`));
    const get = await shieldFor(
      [route(0, '/api/:rest*', { action: { kind: 'proxy', backend: 'api', noCode: true } })],
      { api: declared.url },
      { backends: { api: repointed.url } },
    );
    const res = await get('/api/a/b?c=1');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('repointed /api/a/b?c=1');
  });

  it('decodes a compressed backend answer before storing it', async () => {
    const api = await backend((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
      res.end(gzipSync('zipped body'));
    });
    const get = await shieldFor(
      [route(0, '/z', { action: { kind: 'proxy', backend: 'api', noCode: true } })],
      {
        api: api.url,
      },
    );
    const res = await get('/z', { 'accept-encoding': 'identity' });
    expect(res.headers.get('content-encoding')).toBeNull();
    expect(await res.text()).toBe('zipped body');
  });

  it('a backend slower than responseTimeoutMs is FLOTILLA_ERR_DEADLINE (504)', async () => {
    const slow = await backend(() => {}); // never answers
    const get = await shieldFor(
      [route(0, '/slow', { action: { kind: 'proxy', backend: 'api', noCode: true } })],
      { api: slow.url },
      {},
      { responseTimeoutMs: 200 },
    );
    const res = await get('/slow');
    expect(res.status).toBe(504);
    expect(res.headers.get('x-flotilla-error')).toBe('FLOTILLA_ERR_DEADLINE');
  });

  it('a backend answer over maxResponseBytes is FLOTILLA_ERR_BACKEND (502)', async () => {
    const big = await backend((_req, res) => res.end('x'.repeat(5000)));
    const get = await shieldFor(
      [route(0, '/big', { action: { kind: 'proxy', backend: 'api', noCode: true } })],
      { api: big.url },
      {},
      { maxResponseBytes: 1000 },
    );
    const res = await get('/big');
    expect(res.status).toBe(502);
    expect(res.headers.get('x-flotilla-error')).toBe('FLOTILLA_ERR_BACKEND');
  });

  it('answers a redirect with its params and response rules, and leaves code to the bundle', async () => {
    const get = await shieldFor(
      [
        route(0, '/old/:id', {
          action: { kind: 'redirect', to: '/new/:id', statusCode: 308 },
          headerOps: [{ op: 'setResponse', name: 'x-rule', value: 'on' }],
        }),
        route(1, '/code', { action: { kind: 'proxy', backend: 'api' } }),
      ],
      { api: 'http://127.0.0.1:9' },
    );
    const res = await get('/old/42');
    expect(res.status).toBe(308);
    expect(res.headers.get('location')).toBe('/new/42');
    expect(res.headers.get('x-rule')).toBe('on');
    // Not marked noCode (code in proxy(), or an older build): a render, and no scheduler listens here.
    const code = await get('/code');
    expect(code.status).toBe(503);
    expect(code.headers.get('x-flotilla-error')).toBe('FLOTILLA_ERR_NO_RESPONDERS');
  });

  it('edgeRoutes: false leaves them to the bundle', async () => {
    const get = await shieldFor(
      [route(0, '/old', { action: { kind: 'redirect', to: '/new', statusCode: 301 } })],
      {},
      {},
      false,
    );
    expect((await get('/old')).status).toBe(503);
  });
});
