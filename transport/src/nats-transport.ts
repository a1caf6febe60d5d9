import { FlotillaError, positiveInt, type WireMessage } from '@flotilla/protocol';
import {
  ClosedConnectionError,
  DrainingConnectionError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  nuid,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { withAbort } from './abort.ts';
import {
  assembleChunks,
  CHUNK_HEADERS,
  CHUNK_SUBJECT_PREFIX,
  chunkedHead,
  splitBody,
} from './chunked-reply.ts';
import { type OpenSubscription, Subscriptions } from './subscriptions.ts';
import {
  type MessageListener,
  type RequestHandler,
  type RequestOptions,
  type SubscribeOptions,
  type Subscription,
  type Transport,
  WIRE_HEADROOM_BYTES,
} from './transport.ts';

/** Options of {@link NatsTransport}. */
export interface NatsTransportOptions {
  /** A connected NATS connection; the transport drains it on {@link NatsTransport.drain}. */
  connection: NatsConnection;
  /** Called when a request handler throws; the requester sees a timeout. */
  onHandlerError?: (error: unknown, subject: string) => void;
  /**
   * How long a responder keeps a reply sent in chunks for its requester to
   * pull the rest (see `transport/README.md`, "Large replies"); a drain
   * waits for it at most this long.
   * @default 10000
   */
  chunkHoldMs?: number;
}

const EMPTY = new Uint8Array(0);

function toNatsHeaders(h: Record<string, string>): MsgHdrs {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

function fromMsg(msg: Msg): WireMessage {
  const headers: Record<string, string> = {};
  if (msg.headers) {
    for (const [k, values] of msg.headers) {
      const v = values[values.length - 1];
      if (v !== undefined) headers[k.toLowerCase()] = v;
    }
  }
  // A plain Uint8Array view (not a Buffer): `.slice()` copies, as on the in-process transport.
  const data = msg.data;
  return { headers, body: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

function mapError(err: unknown, subject: string, timeoutMs: number, closing: boolean): unknown {
  if (err instanceof RequestError && err.isNoResponders()) {
    return new FlotillaError('FLOTILLA_ERR_NO_RESPONDERS', `no responders on ${subject}`, {
      cause: err,
    });
  }
  if (
    err instanceof TimeoutError ||
    (err instanceof RequestError && err.cause instanceof TimeoutError)
  ) {
    return new FlotillaError(
      'FLOTILLA_ERR_TIMEOUT',
      `no reply on ${subject} within ${timeoutMs} ms`,
      { cause: err },
    );
  }
  // A request still waiting when the connection closes fails with a bare
  // RequestError('connection closed'): that is a closed transport too.
  if (
    err instanceof ClosedConnectionError ||
    err instanceof DrainingConnectionError ||
    (closing && err instanceof RequestError)
  ) {
    return new FlotillaError('FLOTILLA_ERR_TRANSPORT_CLOSED', `NATS connection is closed`, {
      cause: err,
    });
  }
  return err;
}

/**
 * {@link Transport} over a real NATS connection: metadata in NATS headers,
 * body as bytes.
 *
 * @example
 * const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
 * const transport = new NatsTransport({ connection: nc });
 */
export class NatsTransport implements Transport {
  readonly kind = 'nats' as const;
  readonly #nc: NatsConnection;
  readonly #subs = new Subscriptions();
  readonly #onHandlerError: (error: unknown, subject: string) => void;
  readonly #chunkHoldMs: number;

  constructor(options: NatsTransportOptions) {
    if (!options?.connection) throw new TypeError('option "connection" is required');
    this.#nc = options.connection;
    this.#onHandlerError = options.onHandlerError ?? (() => {});
    this.#chunkHoldMs = positiveInt('chunkHoldMs', options.chunkHoldMs, 10_000);
    void this.#watchStatus();
  }

  /** False between a disconnect and the reconnect (the client retries meanwhile). */
  #linkUp = true;

  async #watchStatus(): Promise<void> {
    try {
      for await (const status of this.#nc.status()) {
        if (status.type === 'disconnect') this.#linkUp = false;
        else if (status.type === 'reconnect') this.#linkUp = true;
      }
    } catch {
      // the connection closed: isConnected() reports it
    }
  }

  async request(
    subject: string,
    message: WireMessage,
    options: RequestOptions,
  ): Promise<WireMessage> {
    const timeout = Math.max(1, Math.floor(options.timeoutMs));
    const until = Date.now() + timeout;
    try {
      const reply = fromMsg(
        await withAbort(
          this.#nc.request(subject, message.body, {
            timeout,
            headers: toNatsHeaders(message.headers),
          }),
          options.signal,
        ),
      );
      const head = chunkedHead(reply, subject);
      if (head === undefined) return reply;
      return await assembleChunks(
        reply,
        head,
        subject,
        async (index) =>
          fromMsg(
            await withAbort(
              this.#nc.request(head.pull, EMPTY, {
                timeout: Math.max(1, until - Date.now()),
                headers: toNatsHeaders({ [CHUNK_HEADERS.index]: String(index) }),
              }),
              options.signal,
            ),
          ),
        (err) => options.signal?.aborted === true && err === options.signal.reason,
      );
    } catch (err) {
      if (err instanceof FlotillaError) throw err;
      if (options.signal?.aborted && err === options.signal.reason) throw err;
      throw mapError(err, subject, timeout, this.#nc.isClosed() || this.#nc.isDraining());
    }
  }

  serve(subject: string, handler: RequestHandler, options: SubscribeOptions = {}): Subscription {
    const open = this.#open(subject, options.queue, (msg) =>
      open.track(this.#answer(handler, msg)),
    );
    return open.subscription;
  }

  async #answer(handler: RequestHandler, msg: Msg): Promise<void> {
    try {
      const reply = await handler(fromMsg(msg), msg.subject);
      if (!msg.reply) return;
      const room = this.maxPayloadBytes() - WIRE_HEADROOM_BYTES;
      if (reply.body.byteLength <= room) {
        msg.respond(reply.body, { headers: toNatsHeaders(reply.headers) });
      } else {
        await this.#respondInChunks(msg, reply, room);
      }
    } catch (e) {
      this.#onHandlerError(e, msg.subject);
    }
  }

  /**
   * Sends `reply` in chunks of at most `room` bytes (see chunked-reply.ts):
   * the first as the reply, the others to whoever pulls them from a subject
   * of this reply's own, until each was pulled once or `chunkHoldMs` passed.
   */
  async #respondInChunks(msg: Msg, reply: WireMessage, room: number): Promise<void> {
    const chunks = splitBody(reply.body, room);
    const pull = `${CHUNK_SUBJECT_PREFIX}.${nuid.next()}`;
    const pulled = new Set<number>();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    // Subscribed before the reply goes out: the server handles this
    // connection's SUB before its PUB, so the first pull finds it.
    const sub = this.#nc.subscribe(pull, {
      callback: (err, m) => {
        if (err) return;
        const index = Number(m.headers?.get(CHUNK_HEADERS.index));
        const chunk = Number.isInteger(index) && index > 0 ? chunks[index] : undefined;
        if (chunk === undefined) return; // the requester sees the chunk missing
        m.respond(chunk, { headers: toNatsHeaders({ [CHUNK_HEADERS.index]: String(index) }) });
        pulled.add(index);
        if (pulled.size === chunks.length - 1) done();
      },
    });
    const hold = setTimeout(done, this.#chunkHoldMs);
    try {
      msg.respond(chunks[0], {
        headers: toNatsHeaders({
          ...reply.headers,
          [CHUNK_HEADERS.count]: String(chunks.length),
          [CHUNK_HEADERS.bytes]: String(reply.body.byteLength),
          [CHUNK_HEADERS.pull]: pull,
        }),
      });
      await finished;
    } finally {
      clearTimeout(hold);
      sub.unsubscribe();
    }
  }

  publish(subject: string, message: WireMessage): void {
    if (this.#nc.isClosed() || this.#nc.isDraining()) return;
    this.#nc.publish(subject, message.body, { headers: toNatsHeaders(message.headers) });
  }

  subscribe(
    subject: string,
    listener: MessageListener,
    options: SubscribeOptions = {},
  ): Subscription {
    return this.#open(subject, options.queue, (msg) => listener(fromMsg(msg), msg.subject))
      .subscription;
  }

  /** Passes `subject`'s messages to `onMessage` until the returned subscription drains. */
  #open(
    subject: string,
    queue: string | undefined,
    onMessage: (msg: Msg) => void,
  ): OpenSubscription {
    const sub = this.#nc.subscribe(subject, {
      ...(queue ? { queue } : {}),
      callback: (err, msg) => {
        if (!err) onMessage(msg);
      },
    });
    return this.#subs.open(async () => {
      if (!sub.isClosed()) await sub.drain().catch(() => {});
    });
  }

  isConnected(): boolean {
    return this.#linkUp && !this.#nc.isClosed() && !this.#nc.isDraining();
  }

  maxPayloadBytes(): number {
    return this.#nc.info?.max_payload ?? 1024 * 1024;
  }

  async drain(): Promise<void> {
    await this.#subs.drain();
    if (!this.#nc.isClosed() && !this.#nc.isDraining()) await this.#nc.drain().catch(() => {});
  }
}
