import * as v from 'valibot';
import { FlotillaError, isWireError, type WireErrorCode } from './errors.ts';
import { isSubjectToken, STREAM_ID } from './patterns.ts';
import { got, integer, isPlainObject, requiredString, subjectToken } from './schema.ts';

/** Version of the render messages below; bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;

/**
 * A message as it crosses the transport: metadata in headers, body as bytes.
 * Over NATS the headers become NATS message headers.
 */
export interface WireMessage {
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Header names used on wire messages. */
export const WIRE_HEADERS = {
  version: 'flotilla-v',
  deployment: 'flotilla-deployment',
  bundleHash: 'flotilla-bundle-hash',
  deadline: 'flotilla-deadline',
  requestId: 'flotilla-request-id',
  traceparent: 'traceparent',
  method: 'flotilla-method',
  url: 'flotilla-url',
  httpHeaders: 'flotilla-http-headers',
  status: 'flotilla-status',
  timings: 'flotilla-timings',
  error: 'flotilla-error',
  attempt: 'flotilla-attempt',
  ackTo: 'flotilla-ack-to',
  environment: 'flotilla-environment',
  worker: 'flotilla-worker',
  stream: 'flotilla-stream',
} as const;

/** HTTP headers as they cross the wire: `[name, value]` pairs, in order. */
const HeaderListSchema = v.array(
  v.strictTuple([v.string(), v.string()], got('must be a [name, value] pair of strings')),
  got('must be a list of [name, value] pairs'),
);

const BytesSchema = v.custom<Uint8Array>((b) => b instanceof Uint8Array, got('must be bytes'));

/**
 * A request to render one HTTP request with one deployment. The decoder
 * ({@link decodeRenderRequest}) is hand-written, since it runs for every
 * request; it checks the same rules, and a test holds the two together.
 */
export const RenderRequestSchema = v.object({
  /** Immutable deployment to render with. */
  deploymentId: requiredString(),
  /** HTTP method, upper-case. */
  method: requiredString(),
  /** Absolute URL as the client asked for it. */
  url: requiredString(),
  /** HTTP request headers, lower-case names, in order. */
  headers: HeaderListSchema,
  /** Request body; empty for GET and HEAD. */
  body: BytesSchema,
  /** Absolute deadline, epoch milliseconds. Work past it is not started. */
  deadline: v.pipe(v.number(), v.finite(got('must be a number'))),
  /** W3C trace context of the request. */
  traceparent: v.string(),
  /** Id of the request for logs, unique per client request. */
  requestId: v.string(),
  /** 1 for the first try, 2 for a retry. */
  attempt: integer(1, got('must be a positive integer')),
  /** Where the scheduler that takes the request says so (the shield's ack subject). */
  ackTo: v.optional(requiredString()),
  /**
   * The app environment the request is served for (`production`), whose
   * variables and backend origins the worker resolves through its bundle
   * store. Absent for preview hosts (the deployment alone). A subject token:
   * lower-case letters, digits and dashes.
   */
  environment: v.optional(subjectToken()),
});

const TimingsSchema = v.pipe(
  v.custom<Record<string, unknown>>(isPlainObject, got('must be an object of stage → ms')),
  v.record(v.string(), v.number()),
);

/** A request to render one HTTP request with one deployment ({@link RenderRequestSchema}). */
export type RenderRequest = v.InferOutput<typeof RenderRequestSchema>;

/**
 * Per-stage durations of a render, in milliseconds, as shown in
 * `Server-Timing`. The top-level stages ({@link TOP_LEVEL_STAGES}) add up to
 * the whole request; `queue` (waiting for a thread), `load` (cold start) and
 * `render` (inside the isolate) are parts of `worker`.
 */
export type StageTimings = v.InferOutput<typeof TimingsSchema>;

/**
 * Stages that do not overlap: their sum is the time of the whole request.
 * `edge` and `global` are the cache tiers' own times (`shield` with one tier).
 */
export const TOP_LEVEL_STAGES = [
  'shield',
  'edge',
  'global',
  'transport',
  'scheduler',
  'worker',
] as const;

/** Sum of the top-level stages present in `timings`. */
export function topLevelMs(timings: StageTimings): number {
  let sum = 0;
  for (const stage of TOP_LEVEL_STAGES) sum += timings[stage] ?? 0;
  return sum;
}

/** A {@link WireError}: its code is `FLOTILLA_ERR_*`, of the catalogue or not (yet). */
const WireErrorSchema = v.object({
  code: v.custom<WireErrorCode>(
    (code) => typeof code === 'string' && code.startsWith('FLOTILLA_ERR_'),
    got('must be a FLOTILLA_ERR_* code'),
  ),
  message: v.string(),
});

/**
 * The answer to a {@link RenderRequest}: a response, or an error. Decoded by
 * hand like the request ({@link decodeRenderResult}).
 */
export const RenderResultSchema = v.variant('ok', [
  v.object({
    ok: v.literal(true),
    status: v.pipe(integer(100, got('must be an HTTP status')), v.maxValue(599)),
    headers: HeaderListSchema,
    /** The whole body; with {@link stream}, only its first chunks. */
    body: BytesSchema,
    timings: TimingsSchema,
    /** The worker that rendered it (set by the scheduler), for access logs. */
    worker: v.optional(v.string()),
    /**
     * A streamed body: the id of the stream the rest of the body is pulled
     * from, on the rendering worker's stream subject (see stream.ts). The
     * worker's id is in it (`<workerId>.<n>`).
     */
    stream: v.optional(v.pipe(v.string(), v.regex(STREAM_ID, got('must be a stream id')))),
  }),
  v.object({
    ok: v.literal(false),
    error: WireErrorSchema,
    timings: TimingsSchema,
    worker: v.optional(v.string()),
  }),
]);

/** The answer to a {@link RenderRequest}: a response, or an error ({@link RenderResultSchema}). */
export type RenderResult = v.InferOutput<typeof RenderResultSchema>;

const EMPTY = new Uint8Array(0);

function protocolError(message: string): FlotillaError {
  return new FlotillaError('FLOTILLA_ERR_PROTOCOL', message);
}

function checkVersion(msg: WireMessage): void {
  const version = msg.headers[WIRE_HEADERS.version];
  if (version !== String(PROTOCOL_VERSION)) {
    throw protocolError(
      `unsupported message version ${version === undefined ? '(none)' : JSON.stringify(version)}, this process speaks ${PROTOCOL_VERSION}`,
    );
  }
}

function required(msg: WireMessage, name: string): string {
  const value = msg.headers[name];
  if (value === undefined || value === '') throw protocolError(`missing header ${name}`);
  return value;
}

function parseJson<T>(text: string, what: string, check: (v: unknown) => v is T): T {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw protocolError(`${what} is not valid JSON`);
  }
  if (!check(value)) throw protocolError(`${what} has the wrong shape`);
  return value;
}

function isHeaderList(v: unknown): v is Array<[string, string]> {
  return (
    Array.isArray(v) &&
    v.every(
      (e) =>
        Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string',
    )
  );
}

function isTimings(v: unknown): v is StageTimings {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every((n) => typeof n === 'number')
  );
}

/** `environment` as carried on the wire, or a protocol error naming it. */
function checkedEnvironment(environment: string): string {
  if (!isSubjectToken(environment)) {
    throw protocolError(
      `environment ${JSON.stringify(environment).slice(0, 100)} is invalid: it must be lower-case letters, digits and dashes`,
    );
  }
  return environment;
}

/**
 * Encodes a render request for the transport.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` when `environment` is not a subject token.
 */
export function encodeRenderRequest(req: RenderRequest): WireMessage {
  return {
    headers: {
      [WIRE_HEADERS.version]: String(PROTOCOL_VERSION),
      [WIRE_HEADERS.deployment]: req.deploymentId,
      [WIRE_HEADERS.method]: req.method,
      [WIRE_HEADERS.url]: req.url,
      [WIRE_HEADERS.httpHeaders]: JSON.stringify(req.headers),
      [WIRE_HEADERS.deadline]: String(req.deadline),
      [WIRE_HEADERS.traceparent]: req.traceparent,
      [WIRE_HEADERS.requestId]: req.requestId,
      [WIRE_HEADERS.attempt]: String(req.attempt),
      ...(req.ackTo ? { [WIRE_HEADERS.ackTo]: req.ackTo } : {}),
      ...(req.environment !== undefined
        ? { [WIRE_HEADERS.environment]: checkedEnvironment(req.environment) }
        : {}),
    },
    body: req.body,
  };
}

/** Decodes a render request; throws `FLOTILLA_ERR_PROTOCOL` on a malformed message. */
export function decodeRenderRequest(msg: WireMessage): RenderRequest {
  checkVersion(msg);
  const deadline = Number(required(msg, WIRE_HEADERS.deadline));
  if (!Number.isFinite(deadline)) throw protocolError('deadline is not a number');
  const attempt = Number(msg.headers[WIRE_HEADERS.attempt] ?? '1');
  const environment = msg.headers[WIRE_HEADERS.environment];
  return {
    deploymentId: required(msg, WIRE_HEADERS.deployment),
    method: required(msg, WIRE_HEADERS.method),
    url: required(msg, WIRE_HEADERS.url),
    headers: parseJson(required(msg, WIRE_HEADERS.httpHeaders), 'request headers', isHeaderList),
    body: msg.body,
    deadline,
    traceparent: msg.headers[WIRE_HEADERS.traceparent] ?? '',
    requestId: msg.headers[WIRE_HEADERS.requestId] ?? '',
    attempt: Number.isInteger(attempt) && attempt > 0 ? attempt : 1,
    ...(msg.headers[WIRE_HEADERS.ackTo] ? { ackTo: msg.headers[WIRE_HEADERS.ackTo] } : {}),
    ...(environment !== undefined ? { environment: checkedEnvironment(environment) } : {}),
  };
}

/** Encodes a render result (response or error) for the transport. */
export function encodeRenderResult(result: RenderResult): WireMessage {
  const headers: Record<string, string> = {
    [WIRE_HEADERS.version]: String(PROTOCOL_VERSION),
    [WIRE_HEADERS.timings]: JSON.stringify(result.timings),
  };
  if (result.worker !== undefined) headers[WIRE_HEADERS.worker] = result.worker;
  if (!result.ok) {
    headers[WIRE_HEADERS.error] = JSON.stringify({
      code: result.error.code,
      message: result.error.message,
    });
    return { headers, body: EMPTY };
  }
  headers[WIRE_HEADERS.status] = String(result.status);
  headers[WIRE_HEADERS.httpHeaders] = JSON.stringify(result.headers);
  if (result.stream !== undefined) headers[WIRE_HEADERS.stream] = result.stream;
  return { headers, body: result.body };
}

/** Decodes a render result; throws `FLOTILLA_ERR_PROTOCOL` on a malformed message. */
export function decodeRenderResult(msg: WireMessage): RenderResult {
  checkVersion(msg);
  const timingsText = msg.headers[WIRE_HEADERS.timings];
  const timings = timingsText === undefined ? {} : parseJson(timingsText, 'timings', isTimings);
  const worker = msg.headers[WIRE_HEADERS.worker];
  const errorText = msg.headers[WIRE_HEADERS.error];
  if (errorText !== undefined) {
    const error = parseJson(errorText, 'error', isWireError);
    return {
      ok: false,
      error: { code: error.code, message: error.message },
      timings,
      ...(worker === undefined ? {} : { worker }),
    };
  }
  const status = Number(required(msg, WIRE_HEADERS.status));
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw protocolError(`status ${JSON.stringify(msg.headers[WIRE_HEADERS.status])} is invalid`);
  }
  const stream = msg.headers[WIRE_HEADERS.stream];
  if (stream !== undefined && !STREAM_ID.test(stream)) {
    throw protocolError(`stream id ${JSON.stringify(stream).slice(0, 100)} is invalid`);
  }
  return {
    ok: true,
    status,
    headers: parseJson(required(msg, WIRE_HEADERS.httpHeaders), 'response headers', isHeaderList),
    body: msg.body,
    timings,
    ...(worker === undefined ? {} : { worker }),
    ...(stream === undefined ? {} : { stream }),
  };
}
