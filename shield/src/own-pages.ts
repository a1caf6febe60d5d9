/**
 * The pages the shield answers itself on hosts no app serves: `/healthz`
 * (readiness), `/livez` (liveness), `/metrics` (Prometheus) and the index of
 * the environments served at `/`.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Transport } from '@flotilla/transport';
import type { Registry } from 'prom-client';
import { sendError } from './response.ts';
import type { SiteDirectory } from './site-directory.ts';

/** What `/livez` answers. */
export type Liveness = () => { ok: boolean; [k: string]: unknown };

/** Options of {@link OwnPages}. */
export interface OwnPagesOptions {
  region: string;
  /** Its link to NATS: `/healthz` is unavailable without it. */
  transport: Transport;
  /** Served at `/metrics`. */
  registry: Registry;
  /** What `/livez` answers. @default always live */
  liveness?: Liveness;
  /** The environments listed on the index. @default none */
  sites?: SiteDirectory | undefined;
  /** True while the shield drains: `/healthz` is then unavailable. */
  draining: () => boolean;
  /** The port the shield listens on, for the index's links. */
  port: () => number;
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

  /** Answers `path` (no query) when it is one of the pages; false otherwise. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    const o = this.#options;
    if (path === '/healthz') {
      const draining = o.draining();
      const ok = !draining && o.transport.isConnected();
      const body = JSON.stringify({
        status: ok ? 'ok' : 'unavailable',
        role: 'shield',
        region: o.region,
        transport: o.transport.kind,
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
