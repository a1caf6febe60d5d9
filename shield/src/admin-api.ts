/**
 * Purge and revalidation over HTTP, on the shield's admin listener (never
 * the traffic port), for a CMS webhook or a script: `POST /purge` and
 * `POST /revalidate` with a bearer token, each acknowledged by every shield
 * of the fleet as `flotilla purge` is (the same NATS purge and acks).
 *
 * @module
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  errorStatus,
  FlotillaError,
  InvalidOptionError,
  normalizePurgeUrl,
  type PurgeFleetResult,
  type PurgeSelector,
  purgeSelectorProblem,
  toWireError,
} from '@flotilla/protocol';

/** What one fleet-wide purge saw (`purgeFleet` of `@flotilla/deploy`). */
export type FleetPurgeResult = PurgeFleetResult;

/**
 * Purges (or revalidates) across the fleet and waits for the acks:
 * `purgeFleet` of `@flotilla/deploy` over the shield's NATS connection.
 */
export type FleetPurge = (
  selector: PurgeSelector,
  options: {
    timeoutMs: number;
    revalidate?: boolean;
    /** The live shields, when known from their heartbeats (no listening first). */
    live?: Array<{ shieldId: string; region: string }>;
  },
) => Promise<FleetPurgeResult>;

/** Options of {@link AdminApi}. */
export interface AdminApiOptions {
  /**
   * The bearer token a request must carry (`authorization: Bearer <token>`),
   * at least 16 characters. Absent: the API answers 404 (it is off).
   */
  token: string | undefined;
  /** Runs the purge on every shield. */
  purge: FleetPurge;
}

/** Largest request body, bytes. */
const MAX_BODY_BYTES = 64 * 1024;
/** Longest wait for the acks a request may ask (`timeoutMs`), ms. */
const MAX_TIMEOUT_MS = 60_000;
const DEFAULT_PURGE_TIMEOUT_MS = 3000;
/** A revalidation waits for renders. */
const DEFAULT_REVALIDATE_TIMEOUT_MS = 15_000;

/** The paths the API answers. */
const PATHS = new Set(['/purge', '/revalidate']);

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function sendError(
  res: ServerResponse,
  code: Parameters<typeof errorStatus>[0],
  message: string,
  headers: Record<string, string> = {},
  status = errorStatus(code),
): void {
  sendJson(res, status, { error: { code, message } }, headers);
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.byteLength;
      if (bytes > MAX_BODY_BYTES) {
        reject(
          new FlotillaError('FLOTILLA_ERR_BODY_TOO_LARGE', `body over ${MAX_BODY_BYTES} bytes`),
        );
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'));
      } catch (err) {
        reject(
          new FlotillaError(
            'FLOTILLA_ERR_BAD_REQUEST',
            `the body is not JSON: ${(err as Error).message}`,
          ),
        );
      }
    });
  });
}

function bad(message: string): FlotillaError {
  return new FlotillaError('FLOTILLA_ERR_BAD_REQUEST', message);
}

/** The body as an object with only `allowed` keys. */
function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw bad('the body must be a JSON object');
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw bad(`unknown field "${key}" (the fields are ${allowed.join(', ')})`);
    }
  }
  return body as Record<string, unknown>;
}

function timeoutOf(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > MAX_TIMEOUT_MS) {
    throw bad(`timeoutMs must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
  }
  return value as number;
}

/** A `url` field as the purge matches it (host + path + query). */
function urlOf(value: unknown): string {
  if (typeof value !== 'string') throw bad('url must be a string');
  try {
    return normalizePurgeUrl(value);
  } catch (err) {
    throw bad(`url: ${(err as Error).message}`);
  }
}

/** The selector of a `POST /purge` body (see the README for the format). */
export function purgeSelectorOf(body: Record<string, unknown>): PurgeSelector {
  const { timeoutMs: _timeout, ...fields } = body;
  const selector: Record<string, unknown> =
    fields.kind === 'url' ? { ...fields, url: urlOf(fields.url) } : fields;
  const problem = purgeSelectorProblem(selector);
  if (problem !== undefined) throw bad(problem);
  return selector as PurgeSelector;
}

/**
 * `POST /purge` and `POST /revalidate` of the admin listener. Request and
 * answer formats: README, "Purge and revalidate over HTTP".
 */
export class AdminApi {
  readonly #token: Buffer | undefined;
  readonly #purge: FleetPurge;

  /** @throws InvalidOptionError for a token shorter than 16 characters */
  constructor(options: AdminApiOptions) {
    if (options.token !== undefined) {
      if (typeof options.token !== 'string' || options.token.trim().length < 16) {
        throw new InvalidOptionError('adminToken', 'must be at least 16 characters');
      }
      this.#token = Buffer.from(options.token.trim());
    }
    this.#purge = options.purge;
  }

  /** Answers `req` when its path is the API's; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean {
    if (!PATHS.has(path)) return false;
    this.#answer(req, res, path).catch((err) => {
      const wire = toWireError(err);
      if (!res.headersSent) sendError(res, wire.code as 'FLOTILLA_ERR_INTERNAL', wire.message);
      else res.destroy();
    });
    return true;
  }

  async #answer(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (this.#token === undefined) {
      req.resume();
      sendError(
        res,
        'FLOTILLA_ERR_NOT_FOUND',
        'the purge API is off: start the shield with --admin-token or --admin-token-file',
      );
      return;
    }
    const auth = this.#authorized(req.headers.authorization);
    if (auth !== 'ok') {
      req.resume();
      if (auth === 'missing') {
        sendError(res, 'FLOTILLA_ERR_CREDENTIALS', 'needs authorization: Bearer <admin token>', {
          'www-authenticate': 'Bearer realm="flotilla-admin"',
        });
      } else {
        sendError(res, 'FLOTILLA_ERR_FORBIDDEN', 'the admin token is wrong');
      }
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      sendError(res, 'FLOTILLA_ERR_METHOD_NOT_ALLOWED', `${path} takes POST`, { allow: 'POST' });
      return;
    }
    const body = await readJson(req);
    let selector: PurgeSelector;
    let timeoutMs: number;
    let revalidate = false;
    if (path === '/purge') {
      const fields = objectBody(body, [
        'kind',
        'url',
        'pattern',
        'key',
        'app',
        'environment',
        'timeoutMs',
      ]);
      timeoutMs = timeoutOf(fields.timeoutMs, DEFAULT_PURGE_TIMEOUT_MS);
      selector = purgeSelectorOf(fields);
    } else {
      const fields = objectBody(body, ['url', 'timeoutMs']);
      timeoutMs = timeoutOf(fields.timeoutMs, DEFAULT_REVALIDATE_TIMEOUT_MS);
      selector = { kind: 'url', url: urlOf(fields.url) };
      revalidate = true;
    }
    const result = await this.#purge(selector, {
      timeoutMs,
      ...(revalidate ? { revalidate } : {}),
    });
    const answered = result.acked.length + result.failed.length;
    const regionOf = new Map(result.live.map((l) => [l.shieldId, l.region]));
    const shields = [
      ...result.acked.map((a) => ({ ...a, status: 'acked' })),
      ...result.failed.map((f) => ({ ...f, status: 'failed' })),
      ...result.missing.map((id) => ({
        shieldId: id,
        region: regionOf.get(id) ?? '',
        status: 'missing',
      })),
    ];
    const answer: Record<string, unknown> = {
      purgeId: result.purgeId,
      action: revalidate ? 'revalidate' : 'purge',
      selector,
      complete: answered > 0 && result.missing.length === 0 && result.failed.length === 0,
      removed: result.acked.reduce((sum, a) => sum + a.removed, 0),
      ...(revalidate
        ? {
            revalidated: result.acked.reduce((sum, a) => sum + (a.revalidated ?? 0), 0),
            notRevalidated: result.acked.flatMap((a) => a.notRevalidated ?? []),
          }
        : {}),
      shields,
      ms: result.ms,
    };
    if (answer.complete) {
      sendJson(res, 200, answer);
    } else if (answered === 0 && result.missing.length === 0) {
      sendJson(res, 503, {
        ...answer,
        error: { code: 'FLOTILLA_ERR_NO_RESPONDERS', message: 'no shield answered' },
      });
    } else if (result.missing.length > 0) {
      sendJson(res, 504, {
        ...answer,
        error: {
          code: 'FLOTILLA_ERR_TIMEOUT',
          message: `${result.missing.join(', ')} did not acknowledge within ${timeoutMs} ms`,
        },
      });
    } else {
      sendJson(res, 502, {
        ...answer,
        error: {
          code: 'FLOTILLA_ERR_INTERNAL',
          message: result.failed.map((f) => `${f.shieldId}: ${f.error}`).join('; '),
        },
      });
    }
  }

  /** `ok`, `missing` (no bearer token) or `wrong`; compared in constant time. */
  #authorized(header: string | undefined): 'ok' | 'missing' | 'wrong' {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
    if (!m) return 'missing';
    const given = Buffer.from(m[1] as string);
    const token = this.#token as Buffer;
    // Same length first (timingSafeEqual needs it); the length is no secret.
    if (given.byteLength !== token.byteLength) return 'wrong';
    return timingSafeEqual(given, token) ? 'ok' : 'wrong';
  }
}
