import { FlotillaError, type WireMessage } from '@flotilla/protocol';
import { withAbort } from './abort.ts';
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
  readonly #subs = new Set<Subscription>();
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

  #add(subject: string, entry: Entry): () => void {
    let set = this.#entries.get(subject);
    if (!set) {
      set = new Set();
      this.#entries.set(subject, set);
    }
    set.add(entry);
    return () => {
      set.delete(entry);
      if (set.size === 0) this.#entries.delete(subject);
    };
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
    const running = new Set<Promise<WireMessage>>();
    let open = true;
    const remove = this.#add(subject, {
      queue: options.queue,
      deliver: (message, subj) => {
        if (!open) return undefined;
        const p = Promise.resolve().then(() => handler(message, subj));
        running.add(p);
        void p.then(
          () => running.delete(p),
          () => running.delete(p),
        );
        return p;
      },
    });
    const s: Subscription = {
      drain: async () => {
        open = false;
        remove();
        this.#subs.delete(s);
        while (running.size > 0) await Promise.allSettled([...running]);
      },
      get inFlight() {
        return running.size;
      },
    };
    this.#subs.add(s);
    return s;
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
    let open = true;
    const remove = this.#add(subject, {
      queue: options.queue,
      deliver: (message, subj) => {
        if (open) queueMicrotask(() => listener(message, subj));
        return undefined;
      },
    });
    const s: Subscription = {
      drain: async () => {
        open = false;
        remove();
        this.#subs.delete(s);
      },
      inFlight: 0,
    };
    this.#subs.add(s);
    return s;
  }

  maxPayloadBytes(): number {
    return Number.POSITIVE_INFINITY;
  }

  isConnected(): boolean {
    return !this.#closed;
  }

  async drain(): Promise<void> {
    await Promise.all([...this.#subs].map((s) => s.drain()));
    this.#closed = true;
  }
}
