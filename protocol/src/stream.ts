/**
 * Streamed bodies: the messages a shield pulls the rest of a streamed
 * response with, straight from the worker that renders it (never through
 * the scheduler). The render's result (`RenderResult` with `stream`) carries
 * the head and the first chunks; the shield then asks the worker's stream
 * subject for batch 1, 2, … in turn, each pull a credit of at most
 * `maxBytes`: the worker answers as soon as it has bytes (a long poll),
 * so the shield asks again only as fast as its client takes them
 * (backpressure), and the worker's isolate stops producing while its
 * unpulled bytes fill its window. The last batch says `end`; a stream that
 * breaks ends with an `error` instead, never with `end`: a shield must not
 * take a broken stream for a complete body. See README, "Streaming SSR".
 *
 * @module
 */
import * as v from 'valibot';
import { FlotillaError, isWireError, type WireError } from './errors.ts';
import { STREAM_ID } from './patterns.ts';
import { got, integer } from './schema.ts';
import { PROTOCOL_VERSION, type WireMessage } from './wire.ts';

/** Header names of the stream messages. */
export const STREAM_HEADERS = {
  version: 'flotilla-v',
  stream: 'flotilla-stream',
  seq: 'flotilla-stream-seq',
  maxBytes: 'flotilla-stream-max',
  cancel: 'flotilla-stream-cancel',
  end: 'flotilla-stream-end',
  error: 'flotilla-error',
} as const;

const streamId = () => v.pipe(v.string(), v.regex(STREAM_ID, got('must be a stream id')));

/** Shield → worker: the next batch of a streamed body. */
export const StreamPullSchema = v.object({
  /** The stream (`RenderResult.stream`). */
  stream: streamId(),
  /** Which batch: 1 for the first pull (batch 0 came with the result), then 2, … */
  seq: integer(1, got('must be a positive integer')),
  /** Most bytes the answer may carry (the shield's credit, under NATS's max_payload). */
  maxBytes: integer(1, got('must be a positive integer')),
  /** Nobody reads on: the worker ends the render and forgets the stream (answered with an error batch). */
  cancel: v.optional(v.literal(true)),
});

/** Shield → worker: the next batch of a streamed body ({@link StreamPullSchema}). */
export type StreamPull = v.InferOutput<typeof StreamPullSchema>;

/** Worker → shield: one batch of a streamed body. */
export const StreamBatchSchema = v.object({
  /** The batch's number, as pulled. */
  seq: integer(1, got('must be a positive integer')),
  /** The batch's bytes (one or more chunks, in order); empty on an end or error alone. */
  body: v.custom<Uint8Array>((b) => b instanceof Uint8Array, got('must be bytes')),
  /** The body is complete with this batch. */
  end: v.boolean(),
  /** The stream broke (the render failed midway, its deadline passed): nothing follows. */
  error: v.optional(
    v.custom<WireError>(isWireError, got('must be a { code, message } FLOTILLA_ERR_* error')),
  ),
});

/** Worker → shield: one batch of a streamed body ({@link StreamBatchSchema}). */
export type StreamBatch = v.InferOutput<typeof StreamBatchSchema>;

const EMPTY = new Uint8Array(0);

function parsed<T extends v.GenericSchema>(schema: T, value: unknown, what: string) {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output as v.InferOutput<T>;
  const issue = result.issues[0];
  throw new FlotillaError(
    'FLOTILLA_ERR_PROTOCOL',
    `${what}: ${v.getDotPath(issue) ?? 'message'} ${issue.message}`,
  );
}

function checkVersion(msg: WireMessage): void {
  if (msg.headers[STREAM_HEADERS.version] !== String(PROTOCOL_VERSION)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'unsupported stream message version');
  }
}

/** Encodes a pull. */
export function encodeStreamPull(pull: StreamPull): WireMessage {
  return {
    headers: {
      [STREAM_HEADERS.version]: String(PROTOCOL_VERSION),
      [STREAM_HEADERS.stream]: pull.stream,
      [STREAM_HEADERS.seq]: String(pull.seq),
      [STREAM_HEADERS.maxBytes]: String(pull.maxBytes),
      ...(pull.cancel ? { [STREAM_HEADERS.cancel]: '1' } : {}),
    },
    body: EMPTY,
  };
}

/** Decodes a pull; throws `FLOTILLA_ERR_PROTOCOL` on a malformed one. */
export function decodeStreamPull(msg: WireMessage): StreamPull {
  checkVersion(msg);
  return parsed(
    StreamPullSchema,
    {
      stream: msg.headers[STREAM_HEADERS.stream],
      seq: Number(msg.headers[STREAM_HEADERS.seq]),
      maxBytes: Number(msg.headers[STREAM_HEADERS.maxBytes]),
      ...(msg.headers[STREAM_HEADERS.cancel] === '1' ? { cancel: true } : {}),
    },
    'stream pull',
  );
}

/** Encodes a batch. */
export function encodeStreamBatch(batch: StreamBatch): WireMessage {
  const headers: Record<string, string> = {
    [STREAM_HEADERS.version]: String(PROTOCOL_VERSION),
    [STREAM_HEADERS.seq]: String(batch.seq),
  };
  if (batch.end) headers[STREAM_HEADERS.end] = '1';
  if (batch.error) {
    headers[STREAM_HEADERS.error] = JSON.stringify({
      code: batch.error.code,
      message: batch.error.message,
    });
  }
  return { headers, body: batch.body };
}

/** Decodes a batch; throws `FLOTILLA_ERR_PROTOCOL` on a malformed one. */
export function decodeStreamBatch(msg: WireMessage): StreamBatch {
  checkVersion(msg);
  const errorText = msg.headers[STREAM_HEADERS.error];
  let error: unknown;
  if (errorText !== undefined) {
    try {
      error = JSON.parse(errorText);
    } catch {
      error = errorText;
    }
  }
  return parsed(
    StreamBatchSchema,
    {
      seq: Number(msg.headers[STREAM_HEADERS.seq]),
      body: msg.body,
      end: msg.headers[STREAM_HEADERS.end] === '1',
      ...(errorText !== undefined ? { error } : {}),
    },
    'stream batch',
  );
}
