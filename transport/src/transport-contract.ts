/**
 * The behaviour every {@link Transport} must show, as a vitest suite that the
 * in-process transport (beside this file) and the NATS transport (over a real
 * nats-server, in test/integration) both run. Exported as
 * `@flotilla/transport/contract`; not part of the package's runtime API.
 */
import { FlotillaError, type WireMessage } from '@flotilla/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Subscription, Transport } from './transport.ts';

/** The transports one contract case works with. */
export interface ContractSetup {
  /** Sends requests and publishes. */
  client: Transport;
  /** Serves and subscribes; may be the same object as `client`. */
  server: Transport;
  /** A second serving process (another connection); may be the same object as `server`. */
  server2: Transport;
  /** Resolves once every subscription made so far receives messages (NATS: a flush on each connection). */
  settle(): Promise<void>;
  /** Frees everything; called after each case even when the case drained some transports. */
  close(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function msg(body: string | Uint8Array, headers: Record<string, string> = {}): WireMessage {
  return { headers, body: typeof body === 'string' ? enc.encode(body) : body };
}

/** A promise with its resolve function, to hold a handler until the test lets it go. */
function gate<T = void>(): { promise: Promise<T>; open(value: T): void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

async function rejection(p: Promise<unknown>): Promise<FlotillaError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FlotillaError);
    return err as FlotillaError;
  }
  throw new Error('expected the request to fail');
}

/**
 * Defines the transport contract suite under `describe(name)`. `factory` is
 * called before each case and must return fresh, connected transports.
 */
export function transportContract(name: string, factory: () => Promise<ContractSetup>): void {
  describe(`${name}: transport contract`, () => {
    let t: ContractSetup;
    const subs: Subscription[] = [];

    beforeEach(async () => {
      t = await factory();
    });

    afterEach(async () => {
      await Promise.all(subs.splice(0).map((s) => s.drain().catch(() => {})));
      await t.close();
    });

    it('round-trips a request and its reply with headers and binary bodies intact', async () => {
      const seen: Array<{ headers: Record<string, string>; body: number[]; subject: string }> = [];
      subs.push(
        t.server.serve('contract.echo', async (m, subject) => {
          seen.push({ headers: m.headers, body: Array.from(m.body), subject });
          return msg(new Uint8Array([...m.body].reverse()), {
            'flotilla-status': '200',
            'x-reply': 'crème brûlée ✓',
            'x-json': '[["a","b"],["c","d e"]]',
          });
        }),
      );
      await t.settle();
      // A view into a larger buffer: only the view's bytes may travel.
      const backing = new Uint8Array([9, 9, 0, 255, 1, 128, 13, 10, 9, 9]);
      const reply = await t.client.request(
        'contract.echo',
        msg(backing.subarray(2, 8), { 'flotilla-v': '1', 'x-a': 'first', 'x-b': 'second' }),
        { timeoutMs: 5000 },
      );
      expect(seen).toHaveLength(1);
      expect(seen[0]?.subject).toBe('contract.echo');
      expect(seen[0]?.body).toEqual([0, 255, 1, 128, 13, 10]);
      expect(seen[0]?.headers).toEqual({ 'flotilla-v': '1', 'x-a': 'first', 'x-b': 'second' });
      expect(reply.body).toBeInstanceOf(Uint8Array);
      expect(Array.from(reply.body)).toEqual([10, 13, 128, 1, 255, 0]);
      expect(reply.headers).toEqual({
        'flotilla-status': '200',
        'x-reply': 'crème brûlée ✓',
        'x-json': '[["a","b"],["c","d e"]]',
      });
    });

    it('round-trips an empty body with no headers', async () => {
      subs.push(t.server.serve('contract.empty', async (m) => msg(m.body, {})));
      await t.settle();
      const reply = await t.client.request('contract.empty', msg(new Uint8Array(0)), {
        timeoutMs: 5000,
      });
      expect(reply.body.byteLength).toBe(0);
      expect(reply.headers).toEqual({});
    });

    it('keeps each reply body intact when many requests are in flight at once', async () => {
      subs.push(
        t.server.serve('contract.many', async (m) => {
          await Promise.resolve();
          return msg(`reply-${dec.decode(m.body)}-${'x'.repeat(Number(dec.decode(m.body)) * 37)}`);
        }),
      );
      await t.settle();
      const replies = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          t.client.request('contract.many', msg(String(i)), { timeoutMs: 5000 }),
        ),
      );
      // Read every body only after all replies arrived: none may be overwritten.
      replies.forEach((r, i) => {
        expect(dec.decode(r.body)).toBe(`reply-${i}-${'x'.repeat(i * 37)}`);
      });
    });

    it('carries replies larger than one message intact (in chunks where the transport needs them), many at once', async () => {
      // Three messages' worth of body (1 MiB when the transport is unbounded).
      const max = t.client.maxPayloadBytes();
      const size = 3 * (Number.isFinite(max) ? max : 1024 * 1024) + 12_345;
      const body = new Uint8Array(size).map((_, i) => (i * 131 + (i >> 16)) % 256);
      subs.push(
        t.server.serve('contract.large', async (m) => {
          const n = Number(dec.decode(m.body));
          const out = body.slice();
          out[0] = n;
          return msg(out, { 'x-n': String(n) });
        }),
      );
      await t.settle();
      const replies = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          t.client.request('contract.large', msg(String(i)), { timeoutMs: 20_000 }),
        ),
      );
      replies.forEach((r, i) => {
        expect(r.headers).toEqual({ 'x-n': String(i) });
        expect(r.body.byteLength).toBe(size);
        expect(r.body[0]).toBe(i);
        expect(Buffer.compare(r.body.subarray(1), body.subarray(1))).toBe(0);
      });
    });

    it('fails at once with FLOTILLA_ERR_NO_RESPONDERS when nobody serves the subject', async () => {
      // A generous timeout: waiting for it instead of failing fast would exceed the case's timeout.
      const err = await rejection(
        t.client.request('contract.nobody', msg('x'), { timeoutMs: 60_000 }),
      );
      expect(err.code).toBe('FLOTILLA_ERR_NO_RESPONDERS');
      expect(err.message).toContain('contract.nobody');
    }, 10_000);

    it('fails with FLOTILLA_ERR_TIMEOUT when the handler is slower than timeoutMs', async () => {
      const hold = gate();
      const entered = gate();
      subs.push(
        t.server.serve('contract.slow', async (m) => {
          entered.open();
          await hold.promise;
          return msg(m.body);
        }),
      );
      await t.settle();
      const err = await rejection(t.client.request('contract.slow', msg('x'), { timeoutMs: 100 }));
      await entered.promise;
      hold.open();
      expect(err.code).toBe('FLOTILLA_ERR_TIMEOUT');
      expect(err.message).toContain('100 ms');
    });

    it('stops waiting when the signal of the request aborts, with the abort reason', async () => {
      let release = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      subs.push(
        t.server.serve('contract.abort', async () => {
          await gate;
          return msg('late');
        }),
      );
      await t.settle();
      const controller = new AbortController();
      const reason = new Error('worker lost');
      const pending = t.client.request('contract.abort', msg('x'), {
        timeoutMs: 60_000,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(reason), 20);
      try {
        await expect(pending).rejects.toBe(reason);
        const already = new AbortController();
        already.abort(reason);
        await expect(
          t.client.request('contract.abort', msg('x'), { timeoutMs: 1000, signal: already.signal }),
        ).rejects.toBe(reason);
      } finally {
        release();
      }
    }, 10_000);

    it('gives the requester a timeout when the handler throws', async () => {
      subs.push(
        t.server.serve('contract.throws', async () => {
          throw new Error('handler bug');
        }),
      );
      await t.settle();
      const err = await rejection(
        t.client.request('contract.throws', msg('x'), { timeoutMs: 100 }),
      );
      expect(err.code).toBe('FLOTILLA_ERR_TIMEOUT');
    });

    it('delivers each request to exactly one member of a queue group, spreading across members', async () => {
      const counts = [0, 0];
      const member = (i: number) => async (m: WireMessage) => {
        counts[i] = (counts[i] ?? 0) + 1;
        return msg(m.body, { 'x-member': String(i) });
      };
      subs.push(t.server.serve('contract.queue', member(0), { queue: 'q' }));
      subs.push(t.server2.serve('contract.queue', member(1), { queue: 'q' }));
      await t.settle();
      const replies = await Promise.all(
        Array.from({ length: 100 }, (_, i) =>
          t.client.request('contract.queue', msg(String(i)), { timeoutMs: 5000 }),
        ),
      );
      expect(replies.map((r) => dec.decode(r.body))).toEqual(
        Array.from({ length: 100 }, (_, i) => String(i)),
      );
      expect((counts[0] ?? 0) + (counts[1] ?? 0)).toBe(100);
      expect(counts[0]).toBeGreaterThan(0);
      expect(counts[1]).toBeGreaterThan(0);
      const byMember = replies.map((r) => r.headers['x-member']);
      expect(byMember.filter((m) => m === '0')).toHaveLength(counts[0] ?? 0);
    });

    it('fans a publish out to every plain subscriber and to one member of each queue group', async () => {
      const n = 20;
      const plainA: string[] = [];
      const plainB: string[] = [];
      const queued: string[] = [];
      const allIn = gate();
      const check = () => {
        if (plainA.length >= n && plainB.length >= n && queued.length >= n) allIn.open();
      };
      const into = (list: string[]) => (m: WireMessage) => {
        list.push(dec.decode(m.body));
        check();
      };
      subs.push(t.server.subscribe('contract.fanout', into(plainA)));
      subs.push(t.server2.subscribe('contract.fanout', into(plainB)));
      subs.push(t.server.subscribe('contract.fanout', into(queued), { queue: 'g' }));
      subs.push(t.server2.subscribe('contract.fanout', into(queued), { queue: 'g' }));
      await t.settle();
      const sent = Array.from({ length: n }, (_, i) => `m${i}`);
      for (const body of sent) t.client.publish('contract.fanout', msg(body, { 'x-i': body }));
      await allIn.promise;
      await t.settle();
      expect(plainA).toEqual(sent);
      expect(plainB).toEqual(sent);
      expect([...queued].sort()).toEqual([...sent].sort());
    });

    it('stops delivering to a subscriber once it drained', async () => {
      const drained: string[] = [];
      const kept: string[] = [];
      const second = gate();
      const sub = t.server.subscribe('contract.unsub', (m) => drained.push(dec.decode(m.body)));
      subs.push(
        t.server.subscribe('contract.unsub', (m) => {
          kept.push(dec.decode(m.body));
          if (kept.length === 2) second.open();
        }),
      );
      await t.settle();
      t.client.publish('contract.unsub', msg('before'));
      await t.settle();
      await sub.drain();
      t.client.publish('contract.unsub', msg('after'));
      await second.promise;
      expect(kept).toEqual(['before', 'after']);
      expect(drained).toEqual(['before']);
    });

    it('drain() of a serving subscription lets the handler in flight answer, then takes no more requests', async () => {
      const hold = gate();
      const entered = gate();
      const events: string[] = [];
      const sub = t.server.serve('contract.drain', async (m) => {
        entered.open();
        await hold.promise;
        events.push('handler answered');
        return msg(m.body, { 'x-late': 'yes' });
      });
      await t.settle();
      const pending = t.client.request('contract.drain', msg('in flight'), { timeoutMs: 5000 });
      await entered.promise;
      expect(sub.inFlight).toBe(1);
      const drained = sub.drain().then(() => events.push('drained'));
      await t.settle();
      events.push('released');
      hold.open();
      const reply = await pending;
      await drained;
      expect(dec.decode(reply.body)).toBe('in flight');
      expect(reply.headers['x-late']).toBe('yes');
      expect(events).toEqual(['released', 'handler answered', 'drained']);
      expect(sub.inFlight).toBe(0);
      const err = await rejection(
        t.client.request('contract.drain', msg('late'), { timeoutMs: 60_000 }),
      );
      expect(err.code).toBe('FLOTILLA_ERR_NO_RESPONDERS');
    }, 10_000);

    it('drain() of a transport lets its handlers in flight answer before it closes', async () => {
      const hold = gate();
      const entered = gate();
      t.server.serve('contract.tdrain', async (m) => {
        entered.open();
        await hold.promise;
        return msg(m.body);
      });
      await t.settle();
      const pending = t.client.request('contract.tdrain', msg('answered'), { timeoutMs: 5000 });
      await entered.promise;
      const drained = t.server.drain();
      hold.open();
      expect(dec.decode((await pending).body)).toBe('answered');
      await drained;
      expect(t.server.isConnected()).toBe(false);
    });

    it('after drain() is disconnected: requests fail with FLOTILLA_ERR_TRANSPORT_CLOSED, publish is a no-op', async () => {
      subs.push(t.server.serve('contract.closed', async (m) => msg(m.body)));
      await t.settle();
      expect(t.client.isConnected()).toBe(true);
      await t.client.drain();
      expect(t.client.isConnected()).toBe(false);
      const err = await rejection(
        t.client.request('contract.closed', msg('x'), { timeoutMs: 60_000 }),
      );
      expect(err.code).toBe('FLOTILLA_ERR_TRANSPORT_CLOSED');
      expect(() => t.client.publish('contract.closed', msg('x'))).not.toThrow();
      await t.client.drain(); // idempotent
    }, 10_000);
  });
}
