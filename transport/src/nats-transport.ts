import { FlotillaError, type WireMessage } from '@flotilla/protocol';
import {
  ClosedConnectionError,
  DrainingConnectionError,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  headers as natsHeaders,
  RequestError,
  TimeoutError,
} from '@nats-io/transport-node';
import { withAbort } from './abort.ts';
import { type OpenSubscription, Subscriptions } from './subscriptions.ts';
import type {
  MessageListener,
  RequestHandler,
  RequestOptions,
  SubscribeOptions,
  Subscription,
  Transport,
} from './transport.ts';

/** Options of {@link NatsTransport}. */
export interface NatsTransportOptions {
  /** A connected NATS connection; the transport drains it on {@link NatsTransport.drain}. */
  connection: NatsConnection;
  /** Called when a request handler throws; the requester sees a timeout. */
  onHandlerError?: (error: unknown, subject: string) => void;
}

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

  constructor(options: NatsTransportOptions) {
    if (!options?.connection) throw new TypeError('option "connection" is required');
    this.#nc = options.connection;
    this.#onHandlerError = options.onHandlerError ?? (() => {});
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
    try {
      const reply = await withAbort(
        this.#nc.request(subject, message.body, {
          timeout,
          headers: toNatsHeaders(message.headers),
        }),
        options.signal,
      );
      return fromMsg(reply);
    } catch (err) {
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
      if (msg.reply) msg.respond(reply.body, { headers: toNatsHeaders(reply.headers) });
    } catch (e) {
      this.#onHandlerError(e, msg.subject);
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
