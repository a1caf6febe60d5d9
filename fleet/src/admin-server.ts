import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A small HTTP server with `/healthz` and `/metrics`, for roles without their own. */
export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `/healthz` (readiness: 200 while `health()` says ok, else 503),
 * `/livez` (liveness: 200 while the event loop responds) and `/metrics` from `registry` on `host:port` (port 0 picks a free one).
 */
export async function startAdminServer(options: {
  registry: Registry;
  host: string;
  port: number;
  health: () => { ok: boolean; [k: string]: unknown };
  /** `/livez`: 200 while the event loop responds. @default always live */
  liveness?: () => { ok: boolean; [k: string]: unknown };
  /** More JSON routes by path (e.g. the scheduler's `/http-sd`). @default none */
  json?: Record<string, (req: IncomingMessage) => unknown>;
}): Promise<AdminServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const h = options.health();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: h.ok ? 'ok' : 'unavailable', ...h }));
    } else if (path === '/livez') {
      const l = options.liveness?.() ?? { ok: true };
      res.writeHead(l.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(l));
    } else if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(text);
        },
        () => {
          res.writeHead(500).end();
        },
      );
    } else if (path !== undefined && options.json && Object.hasOwn(options.json, path)) {
      const body = JSON.stringify(options.json[path]?.(req));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /healthz, /livez or /metrics\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
