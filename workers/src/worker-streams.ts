/**
 * The worker's streamed bodies: what its render threads post on each
 * task's stream port, held until the shield pulls it (see
 * `@flotilla/protocol`'s stream.ts). Each batch pulled gives the render its
 * bytes back as credit, so an isolate produces only as fast as the shield's
 * client reads, within its window.
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import {
  decodeStreamPull,
  encodeStreamBatch,
  FlotillaError,
  type LogFn,
  type StreamBatch,
  toWireError,
  type WireError,
  type WireMessage,
} from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';
import type { RenderTaskResult, StreamMessage } from './task.ts';

/** How long past its deadline a stream nobody pulls is kept. */
const ABANDON_GRACE_MS = 1000;

/** A streamed response's status and headers. */
export interface StreamHead {
  status: number;
  headers: Array<[string, string]>;
}

/** One render's streamed body on this worker. */
export class WorkerStream {
  /** `<workerId>.<random n>`: the id the shield pulls it by. */
  readonly id: string;
  /** The render thread's end of the channel (transfer it with the task). */
  readonly port: MessagePort;
  readonly #own: MessagePort;
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  #received = 0;
  #expected: number | undefined;
  #head: StreamHead | undefined;
  #error: WireError | undefined;
  /** Batches sent: the next pull is for `#seq + 1` (the result carried batch 0). */
  #seq = 0;
  #last: StreamBatch | undefined;
  #changed: (() => void) | undefined;
  #terminalSent = false;
  readonly #abandon: NodeJS.Timeout;
  readonly #closed: Promise<void>;
  #close!: () => void;
  /** Resolves with the head once a first chunk came (or the stream ended), or undefined if it never streams. */
  readonly started: Promise<StreamHead | undefined>;
  #start!: (head: StreamHead | undefined) => void;

  constructor(id: string, deadline: number, onClosed: () => void) {
    this.id = id;
    const channel = new MessageChannel();
    this.#own = channel.port1;
    this.port = channel.port2;
    this.started = new Promise((resolve) => {
      this.#start = resolve;
    });
    this.#closed = new Promise((resolve) => {
      this.#close = () => {
        clearTimeout(this.#abandon);
        this.#own.close();
        onClosed();
        resolve();
      };
    });
    this.#own.on('message', (m: StreamMessage) => this.#onMessage(m));
    // Nobody pulled it to its end by the deadline (the shield went away).
    this.#abandon = setTimeout(
      () => {
        this.#fail({ code: 'FLOTILLA_ERR_DEADLINE', message: 'stream not pulled by its deadline' });
        this.#close();
      },
      Math.max(0, deadline - Date.now()) + ABANDON_GRACE_MS,
    );
    this.#abandon.unref();
  }

  #onMessage(m: StreamMessage): void {
    if (m?.type === 'head' && this.#head === undefined) {
      this.#head = { status: m.status, headers: m.headers };
      // A stream of no chunk at all whose render already answered.
      if (this.#expected === 0) this.#start(this.#head);
    } else if (m?.type === 'chunk' && m.bytes instanceof Uint8Array && this.#head) {
      this.#received++;
      this.#chunks.push(m.bytes);
      this.#buffered += m.bytes.byteLength;
      this.#start(this.#head);
    }
    this.#wake();
  }

  #wake(): void {
    const changed = this.#changed;
    this.#changed = undefined;
    changed?.();
  }

  /** The render broke without an answer (its thread failed): the stream ends with `error`. */
  fail(error: WireError): void {
    this.#fail(error);
  }

  #fail(error: WireError): void {
    this.#error ??= error;
    this.#start(undefined);
    this.#wake();
  }

  /**
   * The render's task answered: a streamed body is complete once its
   * `streamedChunks` arrived; a failure breaks it; a body returned whole
   * means it never streamed.
   */
  finish(out: RenderTaskResult): void {
    if (out.ok && out.streamedChunks !== undefined) {
      this.#expected = out.streamedChunks;
      // A stream with no chunk at all starts (its head, an empty body) now.
      if (out.streamedChunks === 0 && this.#head) this.#start(this.#head);
    } else if (!out.ok) this.#fail(out.error);
    else this.#start(undefined);
    this.#wake();
  }

  /** True once every chunk of a complete body arrived. */
  get #complete(): boolean {
    return this.#expected !== undefined && this.#received >= this.#expected;
  }

  /**
   * Up to `maxBytes` of what is buffered (at least one chunk when any, so a
   * chunk larger than `maxBytes` is cut), the bytes given back to the render as credit.
   */
  take(maxBytes: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let size = 0;
    while (this.#chunks.length > 0 && size < maxBytes) {
      const chunk = this.#chunks[0] as Uint8Array;
      const room = maxBytes - size;
      if (chunk.byteLength <= room) {
        parts.push(chunk);
        this.#chunks.shift();
        size += chunk.byteLength;
      } else {
        parts.push(chunk.subarray(0, room));
        this.#chunks[0] = chunk.subarray(room);
        size += room;
      }
    }
    this.#buffered -= size;
    if (size > 0) this.#own.postMessage({ credit: size });
    if (parts.length === 1) return parts[0] as Uint8Array;
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.byteLength;
    }
    return out;
  }

  /**
   * Batch `seq`: as soon as bytes are buffered or the stream ended (a long
   * poll), at most `maxBytes`. The batch before again when `seq` asks for it
   * (its answer was lost).
   */
  async pull(seq: number, maxBytes: number): Promise<StreamBatch> {
    if (seq === this.#seq && this.#last) return this.#last;
    if (seq !== this.#seq + 1) {
      return this.#terminal(seq, {
        code: 'FLOTILLA_ERR_PROTOCOL',
        message: `stream ${this.id} was pulled for batch ${seq}, not ${this.#seq + 1}`,
      });
    }
    while (this.#buffered === 0 && this.#error === undefined && !this.#complete) {
      await new Promise<void>((resolve) => {
        this.#changed = resolve;
      });
    }
    if (this.#buffered === 0 && this.#error !== undefined) return this.#terminal(seq, this.#error);
    const body = this.take(maxBytes);
    const end = this.#complete && this.#buffered === 0;
    this.#seq = seq;
    this.#last = { seq, body, end };
    if (end) this.#ended();
    return this.#last;
  }

  /**
   * Nobody reads on (the shield's client left): the render is told to stop
   * (its request's signal aborts) and the stream is forgotten.
   */
  cancel(): void {
    this.#own.postMessage({ cancel: `stream ${this.id} was cancelled by its reader` });
    this.#fail({ code: 'FLOTILLA_ERR_REPLY_INCOMPLETE', message: 'stream cancelled' });
    this.#ended();
  }

  /** The result's first batch (batch 0): what is buffered, and whether that was all. */
  first(maxBytes: number): { body: Uint8Array; end: boolean } {
    const body = this.take(maxBytes);
    return { body, end: this.#complete && this.#buffered === 0 };
  }

  #terminal(seq: number, error: WireError): StreamBatch {
    this.#seq = seq;
    this.#last = { seq, body: new Uint8Array(0), end: false, error };
    this.#ended();
    return this.#last;
  }

  /** The last batch is out: forgotten a little later (its answer may be pulled again). */
  #ended(): void {
    if (this.#terminalSent) return;
    this.#terminalSent = true;
    setTimeout(() => this.#close(), ABANDON_GRACE_MS).unref();
  }

  /** Forgets the stream now (it never streamed, or went out whole). */
  close(): void {
    this.#close();
  }

  /** Resolves once the stream is forgotten. */
  get closed(): Promise<void> {
    return this.#closed;
  }
}

/** The streams of one worker and the subscription shields pull them on. */
export class WorkerStreams {
  readonly #workerId: string;
  readonly #live = new Map<string, WorkerStream>();
  #sub: Subscription | undefined;
  readonly #log: LogFn;

  constructor(workerId: string, log: LogFn) {
    this.#workerId = workerId;
    this.#log = log;
  }

  /** Streams held now. */
  get size(): number {
    return this.#live.size;
  }

  /** Answers pulls on `subject` (the worker's stream subject). */
  serve(transport: Transport, subject: string): void {
    this.#sub = transport.serve(subject, (msg) => this.#answer(msg));
  }

  async #answer(msg: WireMessage): Promise<WireMessage> {
    let seq = 1;
    try {
      const pull = decodeStreamPull(msg);
      seq = pull.seq;
      const stream = this.#live.get(pull.stream);
      if (!stream) {
        throw new FlotillaError(
          'FLOTILLA_ERR_REPLY_INCOMPLETE',
          `worker ${this.#workerId} holds no stream ${pull.stream} (it ended or was abandoned)`,
        );
      }
      if (pull.cancel) {
        stream.cancel();
        throw new FlotillaError('FLOTILLA_ERR_REPLY_INCOMPLETE', `stream ${pull.stream} cancelled`);
      }
      return encodeStreamBatch(await stream.pull(pull.seq, pull.maxBytes));
    } catch (err) {
      const error = toWireError(err);
      this.#log({ msg: 'stream pull failed', worker: this.#workerId, ...error });
      return encodeStreamBatch({ seq, body: new Uint8Array(0), end: false, error });
    }
  }

  /** A new stream for a render with `deadline` (epoch ms). */
  open(deadline: number): WorkerStream {
    // Not guessable: a pull must come from the shield the id was sent to.
    let id = `${this.#workerId}.${randomInt(2 ** 47)}`;
    while (this.#live.has(id)) id = `${this.#workerId}.${randomInt(2 ** 47)}`;
    const stream = new WorkerStream(id, deadline, () => {
      if (this.#live.get(id) === stream) this.#live.delete(id);
    });
    this.#live.set(id, stream);
    return stream;
  }

  /** Waits until every stream was pulled to its end or abandoned, then stops answering pulls. */
  async drain(): Promise<void> {
    while (this.#live.size > 0) await Promise.all([...this.#live.values()].map((s) => s.closed));
    await this.#sub?.drain();
  }
}
