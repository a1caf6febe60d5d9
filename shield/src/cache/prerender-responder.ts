/**
 * Answers prerender requests (`flotilla promote`/`publish` of an app with
 * `prerender` paths): requests each path of the environment through this
 * shield's own listener, once per cache-key encoding (`br`, `gzip`,
 * `identity`), so the answers are stored as any miss would be, and the first
 * visitor gets a hit.
 *
 * @module
 */
import {
  decodePrerenderRequest,
  encodePrerender,
  environmentHost,
  InvalidOptionError,
  type LogFn,
  PRERENDER_SUBJECT_PATTERN,
  type PrerenderPathResult,
  required,
  type ShieldPrerenderResult,
} from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';
import { loopbackGet } from '../loopback.ts';

/** Options of {@link PrerenderResponder}. */
export interface PrerenderResponderOptions {
  transport: Transport;
  shieldId: string;
  region: string;
  /** Domain of environment hosts (the site directory's): paths are stored under `<app>.<domain>`. */
  domain: string;
  /**
   * The `prerender` paths of the deployment environment `env` of `app`
   * serves, once this shield serves `deploymentId` there (it may see the
   * promote a moment after the CLI); rejects when it does not in time.
   */
  pathsFor: (app: string, env: string, deploymentId: string, deadline: number) => Promise<string[]>;
  /** The port this shield's traffic listener is bound to, once listening. */
  port: () => number;
  /** Interface of the traffic listener. @default '127.0.0.1' */
  host?: string;
  /** Paths requested at once. @default 4 */
  concurrency?: number;
  /** Structured log sink. @default discard */
  log?: LogFn;
}

/** The `accept-encoding` of each cache-key encoding a visitor may have. */
export const ENCODINGS: readonly string[] = ['br, gzip', 'gzip', ''];

/** Subscribes to every app's prerender requests; see the module comment. */
export class PrerenderResponder {
  readonly #o: Required<Omit<PrerenderResponderOptions, 'log'>> & { log: LogFn };
  #sub: Subscription | undefined;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: PrerenderResponderOptions) {
    required('options', options);
    required('transport', options.transport);
    if (typeof options.pathsFor !== 'function') {
      throw new InvalidOptionError(
        'pathsFor',
        'must be a function (app, env, deploymentId) => paths',
      );
    }
    if (typeof options.port !== 'function') {
      throw new InvalidOptionError('port', 'must be a function returning the bound port');
    }
    const concurrency = options.concurrency ?? 4;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new InvalidOptionError('concurrency', 'must be a positive integer');
    }
    this.#o = {
      ...options,
      host: options.host ?? '127.0.0.1',
      concurrency,
      log: options.log ?? (() => {}),
    };
  }

  /** Starts answering. Idempotent. */
  start(): void {
    this.#sub ??= this.#o.transport.serve(PRERENDER_SUBJECT_PATTERN, async (msg) => ({
      headers: {},
      body: encodePrerender(await this.handle(msg.body)),
    }));
  }

  /** Prerenders what `body` asks for; never throws (a failure is in the answer). */
  async handle(body: Uint8Array): Promise<ShieldPrerenderResult> {
    const base = { shieldId: this.#o.shieldId, region: this.#o.region };
    let req: ReturnType<typeof decodePrerenderRequest>;
    let paths: string[];
    let deadline: number;
    try {
      req = decodePrerenderRequest(body);
      deadline = Date.now() + req.timeoutMs;
      paths = await this.#o.pathsFor(req.app, req.env, req.deploymentId, deadline);
    } catch (err) {
      return { ...base, results: [], error: (err as Error).message };
    }
    const host = environmentHost(req.app, req.env, this.#o.domain);
    const results: PrerenderPathResult[] = new Array(paths.length);
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < paths.length; i = next++) {
        results[i] = await this.#prerender(host, paths[i] as string, deadline);
      }
    };
    await Promise.all(Array.from({ length: this.#o.concurrency }, lane));
    const failed = results.filter((r) => !r.stored).length;
    this.#o.log({ msg: 'prerendered', app: req.app, env: req.env, paths: results.length, failed });
    return { ...base, results };
  }

  /** Stops answering. */
  async close(): Promise<void> {
    const sub = this.#sub;
    this.#sub = undefined;
    await sub?.drain();
  }

  async #prerender(host: string, path: string, deadline: number): Promise<PrerenderPathResult> {
    let last: PrerenderPathResult = { path, status: 0, stored: false, detail: 'not requested' };
    for (const encoding of ENCODINGS) {
      const left = deadline - Date.now();
      if (left <= 0) return { path, status: 0, stored: false, detail: 'timed out' };
      last = await this.#get(host, path, encoding, left);
      if (!last.stored) return last;
    }
    return last;
  }

  async #get(
    host: string,
    path: string,
    encoding: string,
    timeoutMs: number,
  ): Promise<PrerenderPathResult> {
    const headers = { host, ...(encoding ? { 'accept-encoding': encoding } : {}) };
    const got = await loopbackGet(this.#o.host, this.#o.port(), path, headers, timeoutMs);
    if (got.error !== undefined) return { path, status: 0, stored: false, detail: got.error };
    return {
      path,
      status: got.status,
      // Stored now, or already (a hit): either way the next visitor hits.
      stored: /;\s*(stored|hit)\b/.test(got.cacheStatus),
      detail: `${got.cacheStatus || 'no cache-status'} (x-flotilla-caching-status: ${got.cachingStatus})`,
    };
  }
}
