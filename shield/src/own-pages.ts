/**
 * The pages the shield answers itself. On the traffic port, for hosts no app
 * serves: `/healthz` (readiness) and `/livez` (liveness) only, where load
 * balancers and probes look. On the admin listener (`adminPort`), any host:
 * those two, `/metrics` (Prometheus) and the index of the environments
 * served at `/` (every app and deployment id), which are the fleet's
 * internals and never on the public port.
 *
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Transport } from '@flotilla/transport';
import type { Registry } from 'prom-client';
import { sendError } from './response.ts';
import type { SiteDirectory } from './site-directory.ts';

/** What `/livez` answers. */
export type Liveness = () => { ok: boolean; [k: string]: unknown };

/** Options of {@link OwnPages}. */
export interface OwnPagesOptions {
  region: string;
  /** Its link to NATS, reported by `/healthz` (which stays ready without it: stale pages are still served). */
  transport: Transport;
  /** Served at `/metrics`. */
  registry: Registry;
  /** What `/livez` answers. @default always live */
  liveness?: Liveness;
  /** The environments listed on the index. @default none */
  sites?: SiteDirectory | undefined;
  /** True while the shield drains: `/healthz` is then unavailable. */
  draining: () => boolean;
  /** The traffic port the shield listens on, for the index's links. */
  port: () => number;
  /** More admin pages (the purge API): true when it answered. @default none */
  api?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The shield's own pages. */
export class OwnPages {
  readonly #options: OwnPagesOptions;
  readonly #liveness: Liveness;

  constructor(options: OwnPagesOptions) {
    this.#options = options;
    this.#liveness = options.liveness ?? (() => ({ ok: true }));
  }

  /** Answers `path` (no query) on the traffic port when it is `/healthz` or `/livez`; false otherwise. */
  serve(res: ServerResponse, path: string): boolean {
    return this.#probe(res, path);
  }

  /**
   * Starts the admin listener on `host:port` (0: a free port): the probes,
   * `/metrics` and the index. Resolves with its URL and a `close`.
   */
  async listenAdmin(host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
    const server: Server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (this.#probe(res, path) || this.#admin(req, res, path)) return;
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /, /healthz, /livez or /metrics\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = (server.address() as AddressInfo).port;
    return {
      url: `http://${host}:${bound}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }

  #probe(res: ServerResponse, path: string): boolean {
    const o = this.#options;
    if (path === '/healthz') {
      // Ready while NATS is down: the shield still answers (cached and stale
      // pages, clear 503s for misses), and a readiness probe that took every
      // shield out of its Service would make those pages unreachable.
      const draining = o.draining();
      const ok = !draining;
      const body = JSON.stringify({
        status: ok ? 'ok' : 'unavailable',
        role: 'shield',
        region: o.region,
        transport: o.transport.kind,
        connected: o.transport.isConnected(),
        draining,
      });
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(body);
      return true;
    }
    if (path === '/livez') {
      const l = this.#liveness();
      res.writeHead(l.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(l));
      return true;
    }
    return false;
  }

  #admin(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const o = this.#options;
    if (o.api?.(req, res, path)) return true;
    if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': o.registry.contentType });
          res.end(text);
        },
        () => sendError(res, 'FLOTILLA_ERR_INTERNAL', 'metrics failed', ''),
      );
      return true;
    }
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(this.#index());
      return true;
    }
    return false;
  }

  #index(): string {
    const { sites, region } = this.#options;
    const port = this.#options.port();
    const items = (sites?.environments() ?? [])
      .map((e) => {
        const host = escapeHtml(sites?.hostOf(e.app, e.env) ?? '');
        const prefix =
          e.env === 'production'
            ? `<a href="/${escapeHtml(e.app)}/">/${escapeHtml(e.app)}/</a> or `
            : '';
        return `<li>${escapeHtml(e.app)} ${escapeHtml(e.env)}: ${prefix}http://${host}:${port}/ — deployment ${escapeHtml(e.deploymentId)}</li>`;
      })
      .join('\n');
    return `<!doctype html><title>Flotilla</title><h1>Flotilla shield (${escapeHtml(region)})</h1><ul>\n${items}\n</ul><p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>\n`;
  }
}
