import type { WireMessage } from '@flotilla/protocol';

/** Room left for wire headers when sizing a body against {@link Transport.maxPayloadBytes}. */
export const WIRE_HEADROOM_BYTES = 64 * 1024;

/** Answers one request. A thrown error becomes a transport-level failure for the requester. */
export type RequestHandler = (message: WireMessage, subject: string) => Promise<WireMessage>;

/** Receives published messages. */
export type MessageListener = (message: WireMessage, subject: string) => void;

/** Options of {@link Transport.request}. */
export interface RequestOptions {
  /** Milliseconds before the request fails with `FLOTILLA_ERR_TIMEOUT`. */
  timeoutMs: number;
  /**
   * Gives up waiting when it aborts: the request rejects with the signal's
   * reason and a late reply is dropped (e.g. the responder is known dead).
   */
  signal?: AbortSignal;
}

/** Options of {@link Transport.serve} and {@link Transport.subscribe}. */
export interface SubscribeOptions {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
}

/** A live subscription or request handler. */
export interface Subscription {
  /** Stops receiving, then waits until every handler already running has answered. */
  drain(): Promise<void>;
  /** Requests being handled right now. */
  readonly inFlight: number;
}

/**
 * The one interface every tier speaks. Implementations: {@link NatsTransport}
 * (real) and {@link InProcessTransport} (one process, no broker; for
 * `flotilla start` on a laptop only).
 */
export interface Transport {
  /** `nats` or `in-process`, for logs and health output. */
  readonly kind: 'nats' | 'in-process';
  /**
   * Sends a request and waits for one reply. Rejects with a `FlotillaError`:
   * `FLOTILLA_ERR_NO_RESPONDERS` at once when nobody listens,
   * `FLOTILLA_ERR_TIMEOUT` after `timeoutMs`, `FLOTILLA_ERR_TRANSPORT_CLOSED`
   * when closed.
   */
  request(subject: string, message: WireMessage, options: RequestOptions): Promise<WireMessage>;
  /** Answers requests on `subject` with `handler`. */
  serve(subject: string, handler: RequestHandler, options?: SubscribeOptions): Subscription;
  /** Fire-and-forget publish. */
  publish(subject: string, message: WireMessage): void;
  /** Listens to published messages on `subject`. */
  subscribe(subject: string, listener: MessageListener, options?: SubscribeOptions): Subscription;
  /**
   * True while requests can be sent: false once closed or draining, and
   * over NATS also while the link is down and the client reconnects.
   */
  isConnected(): boolean;
  /**
   * Largest message (headers + body) the transport carries, in bytes: the
   * server's `max_payload` over NATS (1 MiB by default), unbounded in-process.
   * Senders keep bodies under it minus {@link WIRE_HEADROOM_BYTES}.
   */
  maxPayloadBytes(): number;
  /** Drains every subscription (in-flight handlers finish), then closes. */
  drain(): Promise<void>;
}
