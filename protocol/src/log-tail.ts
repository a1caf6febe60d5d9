/**
 * Log tails (`flotilla logs`): the messages on the subjects of
 * `logTailSubject` / `logLinesSubject` (see `subjects.ts`), and the filter
 * both ends apply to a line.
 *
 * A requester publishes a {@link TailRequest} (with a reply inbox) on
 * `flotilla.logs.tail.<app>`; every shield and worker answers with a
 * {@link TailAnswer}: its recent lines of the app that match. A request with
 * a lease (`leaseMs` > 0) also makes each process publish the app's new
 * matching lines as {@link TailBatch}es on `flotilla.logs.lines.<app>` until
 * the lease ends (the requester renews it while it follows; `leaseMs: 0`
 * ends it at once). Bodies are JSON.
 *
 * @module
 */
import * as v from 'valibot';
import { encodeJsonBody, jsonBodyDecoder } from './json-body.ts';
import { boundedNumber, got, isPlainObject, subjectToken } from './schema.ts';

/** Longest lease a tail gets, ms; a requester renews it while it follows. */
export const MAX_TAIL_LEASE_MS = 60_000;

/** Most recent lines a process answers with (its ring buffer per app holds this many). */
export const MAX_RECENT_LINES = 500;

/** Longest `path` filter. */
const MAX_PATH_FILTER = 512;

/** The sources of lines: the shields' access lines and the bundles' console lines on workers. */
export const LOG_SOURCES = ['access', 'app'] as const;
/** Where a line comes from. */
export type LogSource = (typeof LOG_SOURCES)[number];

/** `5xx`, `4xx`, … or one status (`404`). */
const STATUS_FILTER = /^[1-5](?:xx|[0-9]{2})$/;
/** A cache outcome (`hit`, `miss`, `stale`, `pass`, `none`, …). */
const CACHE_FILTER = /^[a-z][a-z-]{0,31}$/;

/**
 * Which lines a tail wants. Every field narrows: a line must pass all of
 * them. `status`, `path` and `cache` are about requests, so with any of them
 * only access lines pass.
 */
export const TailFilterSchema = v.object({
  /** Environment of the line (`production`). @default any */
  environment: v.optional(subjectToken()),
  /** Only access lines (`access`) or only the bundles' console lines (`app`). @default both */
  source: v.optional(v.picklist(LOG_SOURCES, got('must be access or app'))),
  /** Statuses: classes (`5xx`) or exact (`404`); a line matching any passes. @default any */
  status: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.regex(STATUS_FILTER, got('must be like 5xx or 404')))),
      v.maxLength(16),
    ),
  ),
  /** A path prefix (`/p/`) or a glob (`/p/*`, `**` across slashes). @default any */
  path: v.optional(
    v.pipe(
      v.string(),
      v.startsWith('/', got('must start with /')),
      v.maxLength(MAX_PATH_FILTER, got(`must be at most ${MAX_PATH_FILTER} characters`)),
    ),
  ),
  /** Cache outcomes (`hit`, `miss`, `stale`, …); a line matching any passes. @default any */
  cache: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.regex(CACHE_FILTER, got('must be a cache status like hit')))),
      v.maxLength(16),
    ),
  ),
});

/** Which lines a tail wants ({@link TailFilterSchema}). */
export type TailFilter = v.InferOutput<typeof TailFilterSchema>;

/** A tail request (see the module documentation). */
export const TailRequestSchema = v.object({
  /** The requester's id of its tail (renewals and the end of a lease name it). */
  tailId: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9_-]{1,64}$/, got('must be 1-64 letters, digits, - or _')),
  ),
  filter: v.fallback(TailFilterSchema, {}),
  /** Publish new lines for this long, ms; 0: none (and ends a lease of `tailId`). */
  leaseMs: boundedNumber(0, MAX_TAIL_LEASE_MS, 0, true),
  /** Recent lines to answer with, per process (0 to {@link MAX_RECENT_LINES}). @default 100 */
  recent: boundedNumber(0, MAX_RECENT_LINES, 100, true),
});

/** A tail request ({@link TailRequestSchema}). */
export type TailRequest = v.InferOutput<typeof TailRequestSchema>;
/** Encodes a {@link TailRequest}. */
export const encodeTailRequest = encodeJsonBody<v.InferInput<typeof TailRequestSchema>>;
/** Decodes and checks a {@link TailRequest}. */
export const decodeTailRequest = jsonBodyDecoder(TailRequestSchema, 'tail request');

/** One log line as tails carry it: the logger's fields, with `time` and `source`. */
export type LogEntry = Record<string, unknown> & { time: string; source: LogSource };

const EntriesSchema = v.fallback(
  v.pipe(
    v.array(v.unknown()),
    v.transform((lines) =>
      lines.filter(
        (l): l is LogEntry =>
          isPlainObject(l) &&
          typeof l.time === 'string' &&
          (l.source === 'access' || l.source === 'app'),
      ),
    ),
  ),
  [],
);

/** The process that sent an answer or a batch. */
const SenderEntries = {
  /** `shield` or `worker`. */
  role: v.string(),
  /** The shield's or worker's id. */
  id: v.string(),
  region: v.string(),
  /** Lines it left out (per-tail rate limit) since its last message. @default 0 */
  dropped: v.fallback(v.number(), 0),
  /** It follows as many tails as it may: the lease asked for was not granted. @default false */
  refused: v.fallback(v.boolean(), false),
};

/** What one process answers a tail request with: its recent matching lines, oldest first. */
export const TailAnswerSchema = v.object({ ...SenderEntries, lines: EntriesSchema });
/** A process's answer ({@link TailAnswerSchema}). */
export type TailAnswer = v.InferOutput<typeof TailAnswerSchema>;
/** Encodes a {@link TailAnswer} (and a {@link TailBatch}: the same shape). */
export const encodeTailAnswer = encodeJsonBody<TailAnswer>;
/** Decodes a {@link TailAnswer} or a {@link TailBatch} (lines that are not log lines are dropped). */
export const decodeTailAnswer = jsonBodyDecoder(TailAnswerSchema, 'tail answer');
/** New lines a process publishes while a lease lasts: the shape of a {@link TailAnswer}. */
export type TailBatch = TailAnswer;

/** A glob (`*` within a segment, `**` across) or a prefix, as a test of paths. */
function pathTest(pattern: string): (path: string) => boolean {
  if (!pattern.includes('*')) return (path) => path.startsWith(pattern);
  const source = pattern
    .split('**')
    .map((part) =>
      part
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*'),
    )
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return (path) => re.test(path);
}

/** Whether a status passes `filters` (`5xx`, `404`). */
function statusTest(filters: readonly string[]): (status: unknown) => boolean {
  return (status) => {
    const s = String(status);
    return filters.some((f) => (f.endsWith('xx') ? s[0] === f[0] && s.length === 3 : s === f));
  };
}

/** The test of `filter` on a line, built once per tail. */
export function tailMatcher(filter: TailFilter): (line: LogEntry) => boolean {
  const path = filter.path === undefined ? undefined : pathTest(filter.path);
  const status = filter.status?.length ? statusTest(filter.status) : undefined;
  const cache = filter.cache?.length ? new Set(filter.cache) : undefined;
  const requestOnly = path !== undefined || status !== undefined || cache !== undefined;
  return (line) => {
    if (filter.source !== undefined && line.source !== filter.source) return false;
    if (filter.environment !== undefined && line.environment !== filter.environment) return false;
    if (requestOnly && line.source !== 'access') return false;
    if (status && !status(line.status)) return false;
    if (path && !(typeof line.path === 'string' && path(line.path))) return false;
    if (cache && !(typeof line.cache === 'string' && cache.has(line.cache))) return false;
    return true;
  };
}
