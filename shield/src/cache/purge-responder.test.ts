import {
  decodePurgeAck,
  decodeShieldBeat,
  encodePurgeRequest,
  PURGE_SUBJECT,
  type PurgeSelector,
  SHIELD_HEARTBEAT_SUBJECT,
  type ShieldBeat,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { PurgeResponder, type PurgeResponderOptions } from './purge-responder.ts';

const transports: InProcessTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.drain();
});

function setup(options: Partial<PurgeResponderOptions> = {}) {
  const transport = new InProcessTransport();
  transports.push(transport);
  const seen: PurgeSelector[] = [];
  const beats: ShieldBeat[] = [];
  transport.subscribe(SHIELD_HEARTBEAT_SUBJECT, (msg) => beats.push(decodeShieldBeat(msg.body)));
  const responder = new PurgeResponder({
    transport,
    shieldId: 'shield-a',
    region: 'eu-west',
    purge: (selector) => {
      seen.push(selector);
      return 3;
    },
    ...options,
  });
  const purge = async (selector: PurgeSelector, purgeId = 'p1') =>
    decodePurgeAck(
      (
        await transport.request(
          PURGE_SUBJECT,
          { headers: {}, body: encodePurgeRequest({ purgeId, selector }) },
          { timeoutMs: 1000 },
        )
      ).body,
    );
  return { transport, responder, seen, beats, purge };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('PurgeResponder', () => {
  it('purges the store with the selector and answers with the count', async () => {
    const { responder, seen, purge } = setup();
    responder.start();
    const selector: PurgeSelector = { kind: 'path', pattern: '/p/:id*', app: 'shop' };
    expect(await purge(selector, 'purge-1')).toEqual({
      purgeId: 'purge-1',
      shieldId: 'shield-a',
      region: 'eu-west',
      removed: 3,
    });
    expect(seen).toEqual([selector]);
    await responder.close();
  });

  it('revalidates a URL instead of purging when asked, and refuses other selectors', async () => {
    const revalidated: string[] = [];
    const { responder, seen, transport } = setup({
      revalidate: async (selector) => {
        revalidated.push(selector.url);
        return 2;
      },
    });
    responder.start();
    const ask = async (body: Uint8Array) =>
      decodePurgeAck(
        (await transport.request(PURGE_SUBJECT, { headers: {}, body }, { timeoutMs: 1000 })).body,
      );
    const url = encodePurgeRequest({
      purgeId: 'r1',
      selector: { kind: 'url', url: 'shop.test/p/1' },
      revalidate: true,
    });
    expect(await ask(url)).toEqual({
      purgeId: 'r1',
      shieldId: 'shield-a',
      region: 'eu-west',
      removed: 0,
      revalidated: 2,
    });
    expect(revalidated).toEqual(['shop.test/p/1']);
    expect(seen).toEqual([]);
    // A request another purger built by hand: a pattern cannot be revalidated.
    const byPath = new TextEncoder().encode(
      JSON.stringify({
        purgeId: 'r2',
        selector: { kind: 'path', pattern: '/p' },
        revalidate: true,
      }),
    );
    expect((await ask(byPath)).error).toMatch(/revalidate takes a url selector/);
    expect(() =>
      encodePurgeRequest({
        purgeId: 'r3',
        selector: { kind: 'path', pattern: '/p' },
        revalidate: true,
      }),
    ).toThrow(/revalidate takes a url selector/);
  });

  it('acknowledges a revalidation left to another shield with the copies it removed', async () => {
    const { responder, transport } = setup({
      revalidate: async () => ({ revalidated: 0, removed: 3 }),
    });
    responder.start();
    const body = encodePurgeRequest({
      purgeId: 'r4',
      selector: { kind: 'url', url: 'shop.test/p/1' },
      revalidate: true,
    });
    const reply = await transport.request(
      PURGE_SUBJECT,
      { headers: {}, body },
      { timeoutMs: 1000 },
    );
    expect(decodePurgeAck(reply.body)).toEqual({
      purgeId: 'r4',
      shieldId: 'shield-a',
      region: 'eu-west',
      removed: 3,
      revalidated: 0,
    });
    await responder.close();
  });

  it('a shield without revalidation answers it with an error, never purging', async () => {
    const { responder, seen, transport } = setup();
    responder.start();
    const body = encodePurgeRequest({
      purgeId: 'r4',
      selector: { kind: 'url', url: 'shop.test/' },
      revalidate: true,
    });
    const ack = decodePurgeAck(
      (await transport.request(PURGE_SUBJECT, { headers: {}, body }, { timeoutMs: 1000 })).body,
    );
    expect(ack.error).toMatch(/cannot revalidate/);
    expect(seen).toEqual([]);
  });

  it('awaits an asynchronous purge', async () => {
    const { responder, purge } = setup({
      purge: async () => {
        await sleep(20);
        return 7;
      },
    });
    responder.start();
    expect((await purge({ kind: 'surrogate-key', key: 'k' })).removed).toBe(7);
    await responder.close();
  });

  it('reports a failing purge as an error with nothing removed', async () => {
    const { responder, purge } = setup({
      purge: () => {
        throw new Error('store is closed');
      },
    });
    responder.start();
    expect(await purge({ kind: 'url', url: 'shop.localhost/' })).toMatchObject({
      removed: 0,
      error: 'store is closed',
    });
    await responder.close();
  });

  it('reports a purge function returning something else than a count', async () => {
    const { responder, purge } = setup({ purge: () => -2 });
    responder.start();
    expect((await purge({ kind: 'url', url: 'shop.localhost/' })).error).toMatch(
      /returned -2, not a count/,
    );
    await responder.close();
  });

  it('answers a malformed purge with an error, never purging', async () => {
    const { responder, seen } = setup();
    const ack = await responder.handle(new TextEncoder().encode('{"purgeId":"x"}'));
    expect(ack).toMatchObject({ purgeId: '', shieldId: 'shield-a', removed: 0 });
    expect(ack.error).toMatch(/selector/);
    expect(seen).toEqual([]);
  });

  it('heartbeats at once, then every interval, and says goodbye on close', async () => {
    const { responder, beats, transport } = setup({ heartbeatIntervalMs: 20 });
    responder.start();
    responder.start(); // idempotent
    await sleep(5);
    expect(beats).toEqual([{ shieldId: 'shield-a', region: 'eu-west', intervalMs: 20 }]);
    await sleep(110);
    expect(beats.length).toBeGreaterThanOrEqual(4);
    await responder.close();
    await sleep(5);
    expect(beats.at(-1)).toEqual({
      shieldId: 'shield-a',
      region: 'eu-west',
      intervalMs: 20,
      leaving: true,
    });
    const count = beats.length;
    await sleep(60);
    expect(beats.length).toBe(count);
    // …and no longer answers purges.
    await expect(
      transport.request(
        PURGE_SUBJECT,
        {
          headers: {},
          body: encodePurgeRequest({ purgeId: 'p', selector: { kind: 'url', url: 'a/' } }),
        },
        { timeoutMs: 100 },
      ),
    ).rejects.toMatchObject({ code: 'FLOTILLA_ERR_NO_RESPONDERS' });
    await responder.close(); // idempotent
  });

  it('counts purges and purged entries in the registry', async () => {
    const registry = new Registry();
    const { responder, purge } = setup({ registry });
    responder.start();
    await purge({ kind: 'surrogate-key', key: 'k' });
    await purge({ kind: 'surrogate-key', key: 'k' });
    const text = await registry.metrics();
    expect(text).toMatch(
      /flotilla_shield_cache_purges_total\{kind="surrogate-key",outcome="ok"\} 2/,
    );
    expect(text).toMatch(/flotilla_shield_cache_purged_entries_total\{kind="surrogate-key"\} 6/);
    // A second responder on the same registry shares the metrics.
    expect(() => setup({ registry })).not.toThrow();
    await responder.close();
  });

  it.each([
    [{ shieldId: 'Shield A' }, /option "shieldId" must be lower-case/],
    [{ region: '' }, /option "region" must be lower-case/],
    [{ purge: undefined }, /option "purge" must be a function/],
    [{ heartbeatIntervalMs: 0 }, /option "heartbeatIntervalMs" must be a positive integer/],
    [{ transport: undefined }, /option "transport" is required/],
  ])('rejects %j, naming the bad option', (patch, message) => {
    expect(() => setup(patch as Partial<PurgeResponderOptions>)).toThrow(message);
  });
});
