/**
 * The shield's access log: one structured line per request answered, hits
 * and front-door rejections included, written once the response has been
 * sent (or the client went away). The stages of a request add what they
 * learn (its app, environment, deployment, cache outcome, error code, the
 * region and worker that rendered it, the stage timings); status and bytes
 * sent are read off the response.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { InvalidOptionError, type LogFn } from '@flotilla/protocol';
import { now } from './timing.ts';

/** Options of {@link AccessLog}. */
export interface AccessLogOptions {
  /** Receives the lines (`msg: 'access'`), e.g. a logger writing to stdout or a file. @default none */
  log?: LogFn;
  /**
   * Receives every line, never sampled (`flotilla logs` keeps them for
   * tails), before `log` gets its share. @default none
   */
  tap?: LogFn;
  /**
   * Share of requests answered with a status below 400 that are logged,
   * `0 < sample ≤ 1`, for high traffic; 4xx and 5xx answers are always
   * logged. @default 1
   */
  sample?: number;
  /** The client's address (trusted proxies only), as the front door tells it. */
  clientIp: (req: IncomingMessage) => string;
  /** The shield's region, on lines of requests no other region answered. */
  region: string;
  /** @default Math.random */
  random?: () => number;
}

/** What the stages of a request learned, for its line. */
export interface AccessNote {
  app?: string;
  environment?: string;
  deployment?: string;
  /** Region that rendered it (a failover's or a pinned environment's). */
  region?: string;
  /** Worker that rendered it. */
  worker?: string;
  /** Trace id of the render (from the `traceparent` the shield sent). */
  traceId?: string;
  /** How the cache answered (`hit`, `miss`, `stale`, …; `none` without a cache). */
  cache?: string;
  /** The `FLOTILLA_ERR_*` code of an error answer. */
  error?: string;
  /** Time per stage, ms (what Server-Timing shows). */
  stages?: Record<string, number>;
}

/** One line per request (see the module documentation). */
export class AccessLog {
  readonly #log: LogFn | undefined;
  readonly #tap: LogFn | undefined;
  readonly #sample: number;
  readonly #clientIp: (req: IncomingMessage) => string;
  readonly #region: string;
  readonly #random: () => number;
  readonly #notes = new WeakMap<IncomingMessage, AccessNote>();

  constructor(options: AccessLogOptions) {
    this.#log = options.log;
    this.#tap = options.tap;
    const sample = options.sample ?? 1;
    if (!(typeof sample === 'number' && sample > 0 && sample <= 1)) {
      throw new InvalidOptionError('accessLogSample', `must be a number in (0, 1], got ${sample}`);
    }
    this.#sample = sample;
    this.#clientIp = options.clientIp;
    this.#region = options.region;
    this.#random = options.random ?? Math.random;
  }

  /** Starts the line of `req`; it is written when `res` is sent or its client goes away. */
  begin(req: IncomingMessage, res: ServerResponse, started: number): void {
    const note: AccessNote = {};
    this.#notes.set(req, note);
    const socket = req.socket;
    const bytesBefore = socket.bytesWritten;
    let written = false;
    const write = (completed: boolean) => {
      if (written) return;
      written = true;
      this.#write(req, res, started, note, completed, socket.bytesWritten - bytesBefore);
    };
    res.once('finish', () => write(true));
    res.once('close', () => write(res.writableFinished));
  }

  /** Adds what a stage learned to the line of `req`. */
  note(req: IncomingMessage, fields: AccessNote): void {
    const note = this.#notes.get(req);
    if (note) Object.assign(note, fields);
  }

  #write(
    req: IncomingMessage,
    res: ServerResponse,
    started: number,
    note: AccessNote,
    completed: boolean,
    bytes: number,
  ): void {
    const status = res.statusCode;
    const logged =
      this.#log !== undefined &&
      !(status < 400 && completed && this.#sample < 1 && this.#random() >= this.#sample);
    if (!logged && this.#tap === undefined) return;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const line = {
      msg: 'access',
      requestId: randomUUID(),
      traceId: note.traceId,
      clientIp: this.#clientIp(req),
      method: req.method ?? 'GET',
      host: (req.headers.host ?? '').toLowerCase(),
      path: q === -1 ? url : url.slice(0, q),
      ...(q === -1 ? {} : { query: url.slice(q + 1) }),
      status,
      bytes,
      // The client went away before the whole response was sent.
      ...(completed ? {} : { aborted: true }),
      ...(note.error === undefined ? {} : { error: note.error }),
      cache: note.cache ?? 'none',
      tier: 'shield',
      app: note.app,
      environment: note.environment,
      deployment: note.deployment,
      region: note.region ?? this.#region,
      worker: note.worker,
      ms: Math.round((now() - started) * 100) / 100,
      ...(note.stages === undefined ? {} : { stages: note.stages }),
    };
    this.#tap?.(line);
    if (logged) {
      this.#log?.(this.#sample < 1 && status < 400 ? { ...line, sampled: this.#sample } : line);
    }
  }
}
