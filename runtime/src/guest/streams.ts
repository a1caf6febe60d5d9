/**
 * WHATWG streams for bundles: web-streams-polyfill's ponyfill (it never
 * touches the global object itself), loaded on first use, plus the helpers
 * Request and Response need for stream bodies.
 */
import type * as Ponyfill from 'web-streams-polyfill';
import { concatBytes } from './bytes.ts';
import { GuestTextEncoder } from './encoding.ts';

declare const require: (id: string) => unknown;

export type StreamsModule = typeof Ponyfill;
export type ReadableStream<R = unknown> = Ponyfill.ReadableStream<R>;

/** The globals a bundle sees, as in Node and browsers. */
export const STREAM_GLOBALS = [
  'ReadableStream',
  'ReadableStreamDefaultReader',
  'ReadableStreamBYOBReader',
  'ReadableStreamBYOBRequest',
  'ReadableStreamDefaultController',
  'ReadableByteStreamController',
  'WritableStream',
  'WritableStreamDefaultWriter',
  'WritableStreamDefaultController',
  'TransformStream',
  'TransformStreamDefaultController',
  'ByteLengthQueuingStrategy',
  'CountQueuingStrategy',
] as const;

let streams: StreamsModule | undefined;

export function loadStreams(): StreamsModule {
  streams ??= require('web-streams-polyfill') as StreamsModule;
  return streams;
}

/** True for a ReadableStream (none can exist before the library loaded). */
export function isReadableStream(value: unknown): value is ReadableStream {
  return streams !== undefined && value instanceof streams.ReadableStream;
}

/** Read from, or cancelled: the polyfill keeps the standard's [[disturbed]] flag as `_disturbed`. */
export function isDisturbed(stream: ReadableStream): boolean {
  return (stream as unknown as { _disturbed?: unknown })._disturbed === true;
}

/** A byte stream holding `bytes` as one chunk (none if empty), then closed. */
export function streamOfBytes(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const { ReadableStream } = loadStreams();
  return new ReadableStream({
    type: 'bytes',
    start(controller) {
      if (bytes.byteLength > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

/** A byte stream of `text` in UTF-8. */
export function streamOfText(text: string): ReadableStream<Uint8Array> {
  return streamOfBytes(new GuestTextEncoder().encode(text));
}

/**
 * A body past the render's output cap (the prelude's own class: bundle code
 * never sees it, so it cannot fake one). `bytes` is what was seen before
 * stopping: the body is at least that long.
 */
export class BodyTooLarge extends Error {
  readonly bytes: number;
  readonly cap: number;
  constructor(bytes: number, cap: number) {
    super(`response body is at least ${bytes} bytes, over the ${cap}-byte cap`);
    this.bytes = bytes;
    this.cap = cap;
  }
}

/**
 * Reads `stream` to its end into one array. As in the Fetch standard, every
 * chunk must be a Uint8Array: anything else rejects with a TypeError. Past
 * `maxBytes` the stream is cancelled and the read rejects with
 * {@link BodyTooLarge}: nothing past the cap is kept.
 */
export async function readAllBytes(
  stream: ReadableStream,
  maxBytes = Number.POSITIVE_INFINITY,
): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array)) {
      const error = new TypeError('body stream chunks must be Uint8Array');
      await reader.cancel(error).catch(() => {});
      throw error;
    }
    if (total + value.byteLength > maxBytes) {
      const error = new BodyTooLarge(total + value.byteLength, maxBytes);
      chunks.length = 0;
      await reader.cancel(error).catch(() => {});
      throw error;
    }
    chunks.push(value.slice());
    total += value.byteLength;
  }
  reader.releaseLock();
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  return concatBytes(chunks, total);
}
