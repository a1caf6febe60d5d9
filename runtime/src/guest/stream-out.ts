/**
 * Streamed response bodies, guest side: a handler's `ReadableStream` body
 * read chunk by chunk and handed to the host as it comes, within a credit
 * window (see `runtime/README.md`, "Streamed bodies").
 */
import type { AbortSignal } from './events.ts';
import type { Response } from './fetch-api.ts';
import { STREAM_WINDOW_BYTES, type StreamHostCallback } from './host.ts';
import { BodyTooLarge, type ReadableStream } from './streams.ts';

// Captured when the prelude is evaluated, before any bundle code: a bundle
// patching Map cannot reach the bookkeeping.
const apply = Reflect.apply;
const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const mapDelete = Map.prototype.delete;

/** The credit of one render streaming its body out. */
interface StreamCredit {
  outstanding: number;
  wake: (() => void) | null;
}

/** The streams of one isolate's renders, by request id. */
export interface StreamOut {
  /**
   * Streams `stream` out as render `owner`'s body: the head first, then each
   * chunk as it comes, never past the output cap (the stream is cancelled at
   * the chunk that crosses it), waiting for credit whenever
   * {@link STREAM_WINDOW_BYTES} are out unacknowledged. Resolves with how
   * many chunks went out.
   */
  send(
    owner: string,
    response: Response,
    stream: ReadableStream<Uint8Array>,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<number>;
  /** Gives render `owner` back `bytes` of credit. */
  credit(owner: string, bytes: number): void;
  /** Wakes render `owner` if it waits for credit (its signal aborted). */
  wake(owner: string): void;
}

/** The streams of an isolate, handing their heads and chunks to `streamHost`. */
export function streamOut(streamHost: StreamHostCallback): StreamOut {
  const credits = new Map<string, StreamCredit>();
  const wake = (credit: StreamCredit | undefined) => {
    const waiting = credit?.wake;
    if (credit && waiting) {
      credit.wake = null;
      waiting();
    }
  };
  return {
    async send(owner, response, stream, maxBytes, signal) {
      const credit: StreamCredit = { outstanding: 0, wake: null };
      apply(mapSet, credits, [owner, credit]);
      streamHost('head', owner, response.status, response.headers.toList());
      const reader = stream.getReader();
      let total = 0;
      let count = 0;
      try {
        for (;;) {
          while (credit.outstanding >= STREAM_WINDOW_BYTES && !signal.aborted) {
            await new Promise<void>((resolve) => {
              credit.wake = resolve;
            });
          }
          if (signal.aborted) throw signal.reason;
          const { done, value } = await reader.read();
          if (done) break;
          if (!(value instanceof Uint8Array)) {
            throw new TypeError('body stream chunks must be Uint8Array');
          }
          if (total + value.byteLength > maxBytes) {
            throw new BodyTooLarge(total + value.byteLength, maxBytes);
          }
          if (value.byteLength === 0) continue;
          total += value.byteLength;
          credit.outstanding += value.byteLength;
          count++;
          streamHost('chunk', owner, value);
        }
      } catch (err) {
        await reader.cancel(err).catch(() => {});
        throw err;
      } finally {
        apply(mapDelete, credits, [owner]);
      }
      return count;
    },
    credit(owner, bytes) {
      const credit: StreamCredit | undefined = apply(mapGet, credits, [owner]);
      if (credit === undefined) return;
      credit.outstanding -= Number(bytes) || 0;
      if (credit.outstanding < STREAM_WINDOW_BYTES) wake(credit);
    },
    wake(owner) {
      wake(apply(mapGet, credits, [owner]));
    },
  };
}
