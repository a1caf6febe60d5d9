import { FlotillaError, type WireMessage } from '@flotilla/protocol';
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

interface Entry {
  queue: string | undefined;
  deliver(message: WireMessage, subject: string): Promise<WireMessage> | undefined;
}

function copy(message: WireMessage): WireMessage {
  return { headers: { ...message.headers }, body: message.body.slice() };
}

/**
 * {@link Transport} inside one process, for `flotilla start` with no broker.
 * Exact subjects only (no wildcards); queue groups pick one member at random.
 * Messages are copied on every hop, as they would be over a wire. Never use it
 * as a stand-in for NATS in tests of cross-process behaviour.
 */
export class InProcessTransport implements Transport {
  readonly kind = 'in-process' as const;
  readonly #entries = new Map<string, Set<Entry>>();
  readonly #subs = new Subscriptions();
  #closed = false;

  #targets(subject: string): Entry[] {
    const entries = [...(this.#entries.get(subject) ?? [])];
    const plain = entries.filter((e) => e.queue === undefined);
    const groups = new Map<string, Entry[]>();
    for (const e of entries) {
      if (e.queue === undefined) continue;
      const g = groups.get(e.queue) ?? [];
      g.push(e);
      groups.set(e.queue, g);
    }
    for (const g of groups.values()) {
      const pick = g[Math.floor(Math.random() * g.length)];
      if (pick) plain.push(pick);
    }
    return plain;
  }

  /** Delivers `subject`'s messages to `deliver` until the returned subscription drains. */
  #open(subject: string, queue: string | undefined, deliver: Entry['deliver']): OpenSubscription {
    let set = this.#entries.get(subject);
    if (!set) {
      set = new Set();
      this.#entries.set(subject, set);
    }
    const entry: Entry = { queue, deliver };
    set.add(entry);
    return this.#subs.open(() => {
      set.delete(entry);
      if (set.size === 0) this.#entries.delete(subject);
    });
  }

  request(subject: string, message: WireMessage, options: RequestOptions): Promise<WireMessage> {
    if (this.#closed) {
      return Promise.reject(
        new FlotillaError('FLOTILLA_ERR_TRANSPORT_CLOSED', 'in-process transport is closed'),
      );
    }
    const replies = this.#targets(subject)
      .map((t) => t.deliver(copy(message), subject))
      .filter((p): p is Promise<WireMessage> => p !== undefined);
    const first = replies[0];
    if (!first) {
      return Promise.reject(
        new FlotillaError('FLOTILLA_ERR_NO_RESPONDERS', `no responders on ${subject}`),
      );
    }
    const timeoutMs = Math.max(1, Math.floor(options.timeoutMs));
    const reply = new Promise<WireMessage>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new FlotillaError(
              'FLOTILLA_ERR_TIMEOUT',
              `no reply on ${subject} within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      first.then(
        (reply) => {
          clearTimeout(timer);
          resolve(copy(reply));
        },
        // A failing handler gives no reply: over NATS the requester times out.
        () => {},
      );
    });
    return withAbort(reply, options.signal);
  }

  serve(subject: string, handler: RequestHandler, options: SubscribeOptions = {}): Subscription {
    const open = this.#open(subject, options.queue, (message, subj) => {
      const reply = Promise.resolve().then(() => handler(message, subj));
      open.track(reply);
      return reply;
    });
    return open.subscription;
  }

  publish(subject: string, message: WireMessage): void {
    if (this.#closed) return;
    for (const t of this.#targets(subject)) t.deliver(copy(message), subject);
  }

  subscribe(
    subject: string,
    listener: MessageListener,
    options: SubscribeOptions = {},
  ): Subscription {
    return this.#open(subject, options.queue, (message, subj) => {
      queueMicrotask(() => listener(message, subj));
      return undefined;
    }).subscription;
  }

  maxPayloadBytes(): number {
    return Number.POSITIVE_INFINITY;
  }

  isConnected(): boolean {
    return !this.#closed;
  }

  async drain(): Promise<void> {
    await this.#subs.drain();
    this.#closed = true;
  }
}
