/**
 * A streamed response body as the shield receives it: the first chunks came
 * with the render's result, the rest is pulled batch by batch from the
 * worker rendering it (`@flotilla/protocol`'s stream.ts). Every reader
 * (the client that asked, coalesced followers, the cache storing the
 * complete body) reads it from its start; the next batch is pulled only
 * when a reader has caught up and asks for more, so a client reads it as
 * fast as its socket drains (backpressure back to the isolate), unless the
 * cache is collecting it whole.
 *
 * @module
 */
import type { StreamBatch, WireError } from '@flotilla/protocol';

/** Pulls batch `seq` (1, 2, …) of the stream; with `cancel`, tells the worker nobody reads on. */
export type PullBatch = (seq: number, cancel?: boolean) => Promise<StreamBatch>;

/** Thrown to a reader of a stream that broke: nothing follows, and it was never complete. */
export class BrokenStreamError extends Error {
  /** Why, as it crossed the wire. */
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** A streamed body, pulled on demand and readable from its start by any number of readers. */
export class BodyStream {
  readonly #chunks: Uint8Array[] = [];
  #bytes = 0;
  #seq = 0;
  #done = false;
  #error: WireError | undefined;
  #pulling = false;
  /** Pull to the end whatever the readers do (someone wants it whole). */
  #keep = false;
  #cancelled = false;
  readonly #waiters = new Set<() => void>();
  readonly #pull: PullBatch;

  /** @param first the body's first chunks (batch 0, with the result). */
  constructor(first: Uint8Array, pull: PullBatch) {
    if (first.byteLength > 0) this.#push(first);
    this.#pull = pull;
  }

  /** Bytes received so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True once the whole body arrived. */
  get complete(): boolean {
    return this.#done;
  }

  #push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#bytes += chunk.byteLength;
  }

  #wake(): void {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) w();
  }

  #changed(): Promise<void> {
    return new Promise((resolve) => this.#waiters.add(resolve));
  }

  /** Starts pulling the next batch unless one is on its way or the stream is over. */
  #demand(): void {
    if (this.#pulling || this.#done || this.#error || this.#cancelled) return;
    this.#pulling = true;
    void this.#pullNext();
  }

  async #pullNext(): Promise<void> {
    try {
      const seq = ++this.#seq;
      const batch = await this.#pull(seq);
      if (batch.seq !== seq) {
        this.#error = {
          code: 'FLOTILLA_ERR_PROTOCOL',
          message: `asked for batch ${seq} of a streamed body and got ${batch.seq}`,
        };
      } else if (batch.error) this.#error = batch.error;
      else {
        if (batch.body.byteLength > 0) this.#push(batch.body);
        if (batch.end) this.#done = true;
      }
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      this.#error = {
        code: 'FLOTILLA_ERR_REPLY_INCOMPLETE',
        message: `the rest of a streamed body did not arrive: ${String(e?.code ?? '')} ${String(e?.message ?? err)}`,
      };
    } finally {
      this.#pulling = false;
      this.#wake();
    }
    if (this.#keep) this.#demand();
  }

  #broken(): BrokenStreamError {
    const error = this.#error as WireError;
    return new BrokenStreamError(error.code, error.message);
  }

  /**
   * The body's chunks from its start, pulling more as this reader catches up.
   * @throws BrokenStreamError when the stream breaks (the render failed
   * midway, the worker was lost, the deadline passed).
   */
  async *chunks(): AsyncGenerator<Uint8Array, void, undefined> {
    let i = 0;
    for (;;) {
      const chunk = this.#chunks[i];
      if (chunk !== undefined) {
        i++;
        yield chunk;
        continue;
      }
      if (this.#error) throw this.#broken();
      if (this.#done) return;
      if (this.#cancelled) throw new BrokenStreamError('FLOTILLA_ERR_INTERNAL', 'stream cancelled');
      const changed = this.#changed();
      this.#demand();
      await changed;
    }
  }

  /**
   * The whole body, once it has all arrived (pulled to its end from now on).
   * @throws BrokenStreamError when the stream breaks.
   */
  async whole(): Promise<Uint8Array> {
    this.#keep = true;
    while (!this.#done) {
      if (this.#error) throw this.#broken();
      if (this.#cancelled) throw new BrokenStreamError('FLOTILLA_ERR_INTERNAL', 'stream cancelled');
      const changed = this.#changed();
      this.#demand();
      await changed;
    }
    if (this.#chunks.length === 1) return this.#chunks[0] as Uint8Array;
    const body = new Uint8Array(this.#bytes);
    let at = 0;
    for (const c of this.#chunks) {
      body.set(c, at);
      at += c.byteLength;
    }
    return body;
  }

  /**
   * Pulls no more unless someone wants the body whole (the worker gives the
   * stream up at its deadline); readers waiting for more fail.
   */
  cancel(): void {
    if (this.#keep || this.#cancelled) return;
    this.#cancelled = true;
    this.#wake();
    // The worker ends the render rather than hold it until its deadline.
    if (!this.#done && !this.#error) this.#pull(this.#seq + 1, true).catch(() => {});
  }
}
