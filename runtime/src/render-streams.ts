/**
 * The host side of streamed response bodies: the head and chunks the guest
 * sends out through its stream callback, checked (the isolate is not
 * trusted) and passed to each render's sink in order. See
 * `runtime/README.md`, "Streamed bodies".
 */
import { FlotillaError } from '@flotilla/protocol';
import { STREAM_WINDOW_BYTES } from './guest/host.ts';
import type { RenderIoGate } from './io-wait.ts';
import { headProblem } from './marshal.ts';
import type { RenderStreamSink } from './sandbox-options.ts';

interface StreamState {
  sink: RenderStreamSink;
  headSent: boolean;
  received: number;
  bytes: number;
  failure: FlotillaError | undefined;
  /** Bytes sent out and not credited back yet. */
  outstanding: number;
  /** The guest waits for credit: its CPU slot was given up (`io.waiting()`). */
  parked: boolean;
  io: RenderIoGate | undefined;
  /** Called when a chunk arrives or the stream fails (see {@link StreamHandle.finish}). */
  changed: (() => void) | undefined;
}

/** One render's stream, as {@link RenderStreams.open} made it. */
export interface StreamHandle {
  /**
   * Resolves once the `chunks` the guest says it sent have all reached the
   * sink (host callbacks may come after the render's result).
   * @throws FlotillaError what broke the stream (an invalid head, a chunk
   * past the output cap), or `FLOTILLA_ERR_INTERNAL` when the chunks do
   * not all come by `until` (epoch ms).
   */
  finish(chunks: number, until: number): Promise<void>;
  /** Forgets the stream: nothing more reaches its sink. */
  close(): void;
}

/** The streams of one isolate's renders, by request id. */
export class RenderStreams {
  readonly #live = new Map<string, StreamState>();
  readonly #deploymentId: string;
  readonly #outputBytes: number;
  readonly #credit: (owner: string, bytes: number) => void;
  readonly #abort: (owner: string, reason: string) => void;

  /**
   * @param outputBytes the render's output cap, checked again here on what arrives.
   * @param credit gives render `owner` back `bytes` of credit (a call into the guest).
   * @param abort aborts render `owner`'s request signal (a call into the guest).
   */
  constructor(
    deploymentId: string,
    outputBytes: number,
    credit: (owner: string, bytes: number) => void,
    abort: (owner: string, reason: string) => void,
  ) {
    this.#deploymentId = deploymentId;
    this.#outputBytes = outputBytes;
    this.#credit = credit;
    this.#abort = abort;
  }

  /**
   * Starts passing render `owner`'s streamed head and chunks to `sink`.
   * While the render waits for credit (its window is out), `io` is told it
   * only waits (its CPU slot may serve another render), and awaited before
   * the credit lets it go on, as for a `fetch` answer.
   */
  open(owner: string, sink: RenderStreamSink, io?: RenderIoGate): StreamHandle {
    const state: StreamState = {
      sink,
      headSent: false,
      received: 0,
      bytes: 0,
      failure: undefined,
      outstanding: 0,
      parked: false,
      io,
      changed: undefined,
    };
    this.#live.set(owner, state);
    return {
      finish: (chunks, until) => this.#finish(state, chunks, until),
      close: () => {
        if (this.#live.get(owner) === state) this.#live.delete(owner);
      },
    };
  }

  /** Host side of the guest's stream callback. */
  received(op: string, owner: string, value: unknown, headers: unknown): void {
    const state = this.#live.get(owner);
    if (state === undefined || state.failure !== undefined) return;
    if (op === 'head' && !state.headSent) {
      const problem = headProblem(value, headers);
      if (problem !== undefined) {
        this.#fail(state, 'FLOTILLA_ERR_RENDER', `returned an invalid response: ${problem}`);
        return;
      }
      state.headSent = true;
      state.sink.head(
        value as number,
        headers as Array<[string, string]>,
        (bytes) => this.#credited(owner, state, bytes),
        (reason) => {
          if (this.#live.get(owner) !== state) return;
          // A render parked for credit needs its slot back to end.
          if (state.parked && state.io) {
            state.parked = false;
            void state.io.resume().then(() => this.#abort(owner, reason));
          } else this.#abort(owner, reason);
        },
      );
      return;
    }
    if (op !== 'chunk' || !state.headSent || !(value instanceof Uint8Array)) {
      this.#fail(state, 'FLOTILLA_ERR_RENDER', 'streamed a malformed body');
      return;
    }
    state.bytes += value.byteLength;
    if (state.bytes > this.#outputBytes) {
      this.#fail(
        state,
        'FLOTILLA_ERR_OUTPUT_LIMIT',
        `streamed more than the ${this.#outputBytes}-byte cap`,
      );
      return;
    }
    state.received++;
    state.outstanding += value.byteLength;
    if (!state.parked && state.outstanding >= STREAM_WINDOW_BYTES) {
      state.parked = true;
      state.io?.waiting();
    }
    state.sink.chunk(value);
    state.changed?.();
  }

  /** `bytes` of render `owner`'s stream have left: credit for the guest (once it has a slot again). */
  #credited(owner: string, state: StreamState, bytes: number): void {
    state.outstanding -= bytes;
    if (state.parked && state.outstanding < STREAM_WINDOW_BYTES) {
      state.parked = false;
      if (state.io) {
        void state.io.resume().then(() => this.#credit(owner, bytes));
        return;
      }
    }
    this.#credit(owner, bytes);
  }

  #fail(
    state: StreamState,
    code: 'FLOTILLA_ERR_RENDER' | 'FLOTILLA_ERR_OUTPUT_LIMIT',
    why: string,
  ) {
    state.failure = new FlotillaError(code, `render of ${this.#deploymentId} ${why}`);
    state.changed?.();
  }

  async #finish(state: StreamState, chunks: number, until: number): Promise<void> {
    while (state.failure === undefined && state.received < chunks) {
      const left = until - Date.now();
      if (left <= 0) {
        throw new FlotillaError(
          'FLOTILLA_ERR_INTERNAL',
          `render of ${this.#deploymentId} streamed ${chunks} chunks and ${state.received} arrived`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        state.changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      state.changed = undefined;
    }
    if (state.failure !== undefined) throw state.failure;
  }
}
