/**
 * `node:stream`, `node:stream/promises` and `node:stream/web`:
 * [`readable-stream`](https://www.npmjs.com/package/readable-stream) 4
 * (Node's own streams, ported to plain JavaScript; unenv's are mocks), and
 * the isolate's web streams.
 *
 * @module
 */
// @ts-expect-error the process package ships no types
import processShim from 'process/browser.js';
// @ts-expect-error readable-stream ships no types
import * as readable from 'readable-stream';

import { Buffer } from './buffer.ts';

// readable-stream schedules its work with the `process` package's nextTick,
// which drains on a timer captured at load; the isolate cancels a render's
// timers when it answers, and a cancelled drain would stall every stream of
// later renders. A microtask is never cancelled (and is what Node's nextTick
// is closest to).
(
  processShim as { nextTick: (callback: (...args: unknown[]) => void, ...args: unknown[]) => void }
).nextTick = (callback, ...args) => {
  queueMicrotask(() => callback(...args));
};

/** Node's `require('stream')`: the streams classes and helpers. */
export const stream: Record<string, unknown> = readable.default ?? readable;

interface NodeReadable {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(error?: unknown): unknown;
  push(chunk: unknown): boolean;
}
type ReadableClass = (new (options: object) => NodeReadable) & Record<string, unknown>;

// readable-stream leaves `Readable.toWeb` / `fromWeb` to an absent module: Node's, over web streams.
const Readable = stream.Readable as ReadableClass;
Readable.toWeb = (source: NodeReadable): ReadableStream<Uint8Array> =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      source.on('data', (chunk: unknown) => {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
        controller.enqueue(new Uint8Array(bytes));
        if ((controller.desiredSize ?? 1) <= 0) source.pause();
      });
      source.on('end', () => controller.close());
      source.on('error', (error: unknown) => controller.error(error));
    },
    pull() {
      source.resume();
    },
    cancel(reason) {
      source.destroy(reason);
    },
  });
Readable.fromWeb = (web: ReadableStream<Uint8Array>, options: object = {}): NodeReadable => {
  const reader = web.getReader();
  const node: NodeReadable = new Readable({
    ...options,
    read() {
      reader.read().then(
        ({ done, value }) => {
          node.push(
            done
              ? null
              : Buffer.from(value.buffer as ArrayBuffer, value.byteOffset, value.byteLength),
          );
        },
        (error: unknown) => node.destroy(error),
      );
    },
    destroy(error: unknown, callback: (error?: unknown) => void) {
      reader.cancel(error).then(() => callback(error), callback);
    },
  });
  return node;
};

/** `node:stream/promises`. */
export function streamPromises(): Record<string, unknown> {
  const { pipeline, finished } = stream.promises as Record<string, unknown>;
  return { pipeline, finished, default: { pipeline, finished } };
}

/** `node:stream/web`: the isolate's own web streams. */
export function streamWeb(): Record<string, unknown> {
  const g = globalThis as Record<string, unknown>;
  const names = [
    'ReadableStream',
    'WritableStream',
    'TransformStream',
    'ReadableStreamDefaultReader',
    'WritableStreamDefaultWriter',
    'ByteLengthQueuingStrategy',
    'CountQueuingStrategy',
    'TextEncoderStream',
    'TextDecoderStream',
  ];
  const out: Record<string, unknown> = {};
  for (const name of names) out[name] = g[name];
  return out;
}
