import {
  decodeTierMiss,
  encodeShieldBeat,
  encodeTierAnswer,
  type RenderRequest,
  SHIELD_HEARTBEAT_SUBJECT,
  type TierMiss,
  tierMissSubject,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { rendezvousOrder } from './rendezvous.ts';
import { TierClient } from './tier-client.ts';
import { TierMembers } from './tier-members.ts';

const INTERVAL_MS = 100;

const MISS: TierMiss = {
  key: 'shop@d1|/p/1',
  method: 'GET',
  debug: false,
  postCacheable: false,
  requestBodyBytes: 0,
  setCookieRemoved: false,
  app: 'shop',
  environment: 'production',
  path: '/p/1',
  url: 'shop.example.test/p/1',
  primaryRegion: 'eu',
};

function request(): RenderRequest {
  return {
    deploymentId: 'd1',
    method: 'GET',
    url: 'http://shop.example.test/p/1',
    headers: [],
    body: new Uint8Array(0),
    deadline: Date.now() + 30_000,
    traceparent: '',
    requestId: 'r-1',
    attempt: 1,
  };
}

const stops: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const f of stops.splice(0).reverse()) await f();
});

/** Two global members beating every 100 ms; `beating` says which still do. */
async function setup() {
  const transport = new InProcessTransport();
  const [owner, next] = rendezvousOrder(MISS.key, ['g-a', 'g-b']) as [string, string];
  const beating = new Set([owner, next]);
  const beat = () => {
    for (const id of beating) {
      transport.publish(SHIELD_HEARTBEAT_SUBJECT, {
        headers: {},
        body: encodeShieldBeat({
          shieldId: id,
          region: 'eu',
          intervalMs: INTERVAL_MS,
          tier: 'global',
        }),
      });
    }
  };
  const members = new TierMembers(transport, () => {});
  members.start();
  const timer = setInterval(beat, INTERVAL_MS);
  beat();
  const asked: string[] = [];
  const answering = (id: string) =>
    transport.serve(tierMissSubject(id), async (msg) => {
      asked.push(id);
      decodeTierMiss(msg);
      return encodeTierAnswer(
        {
          cacheStatus: `flotilla-global; hit; ttl=1`,
          cachingStatus: 'ok',
          outcome: 'hit',
          shieldId: id,
        },
        { ok: true, status: 200, headers: [], body: new TextEncoder().encode(id), timings: {} },
      );
    });
  const retries = { n: 0 };
  const client = new TierClient({ transport, members, onRetry: () => retries.n++ });
  client.start();
  stops.push(
    () => transport.drain(),
    () => members.close(),
    () => client.close(),
    () => clearInterval(timer),
  );
  return { transport, owner, next, beating, members, client, asked, answering, retries };
}

describe('TierClient', () => {
  it('asks the owner of the key', async () => {
    const t = await setup();
    t.answering(t.owner);
    t.answering(t.next);
    const answer = await t.client.forward(MISS, request(), new AbortController().signal);
    expect(answer?.tier?.shieldId).toBe(t.owner);
    expect(t.asked).toEqual([t.owner]);
    expect(answer?.result.timings.global).toBeGreaterThanOrEqual(0);
  });

  it('asks the next member at once when the owner has no subscription, and skips it until it beats again', async () => {
    const t = await setup();
    t.answering(t.next);
    const answer = await t.client.forward(MISS, request(), new AbortController().signal);
    expect(answer?.tier?.shieldId).toBe(t.next);
    expect(t.retries.n).toBe(1);
    expect(t.members.isLive(t.owner)).toBe(false);
    expect(t.members.order(MISS.key)).toEqual([t.next]);
  });

  it('asks the next member when the owner stops heartbeating with the miss in flight', async () => {
    const t = await setup();
    // The owner takes the miss and never answers (it is frozen, then gone).
    let release = () => {};
    const frozen = new Promise<never>((_, reject) => {
      release = () => reject(new Error('the test is over'));
    });
    frozen.catch(() => {});
    t.transport.serve(tierMissSubject(t.owner), () => frozen);
    stops.push(() => release()); // before the transport drains
    t.answering(t.next);
    const pending = t.client.forward(MISS, request(), new AbortController().signal);
    t.beating.delete(t.owner);
    const answer = await pending;
    expect(answer?.tier?.shieldId).toBe(t.next);
    expect(t.retries.n).toBe(1);
  });

  it('answers undefined when no member is live (the edge then renders itself)', async () => {
    const transport = new InProcessTransport();
    const members = new TierMembers(transport, () => {});
    const client = new TierClient({ transport, members });
    stops.push(() => transport.drain());
    expect(await client.forward(MISS, request(), new AbortController().signal)).toBeUndefined();
  });
});
