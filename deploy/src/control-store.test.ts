import { type NatsServerHandle, startNatsServer, waitFor } from '@flotilla/test-harness';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ControlStore, ControlWatchEvent } from './control-store.ts';
import { StoreConflictError } from './errors.ts';
import { JetStreamControlStore } from './jetstream-control-store.ts';
import { MemoryControlStore } from './memory-control-store.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) =>
  b === undefined ? undefined : new TextDecoder().decode(b);

let server: NatsServerHandle;
let nc: NatsConnection;
let bucketSeq = 0;

beforeAll(async () => {
  server = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: server.url, name: 'control-store-test' });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

/** A fresh JetStream store on its own buckets, so tests never see each other's keys. */
async function jetStreamStore(): Promise<ControlStore> {
  bucketSeq++;
  return JetStreamControlStore.open(nc, {
    bucket: `ctl_store_${bucketSeq}`,
    blobBucket: `blob_store_${bucketSeq}`,
  });
}

function collect(store: ControlStore, prefix: string) {
  const events: ControlWatchEvent[] = [];
  const watch = store.watch(prefix, (e) => events.push(e));
  return { events, watch };
}

function bytesStream(total: number, chunk: number, onPull?: (sent: number) => void) {
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= total) {
        controller.close();
        return;
      }
      const n = Math.min(chunk, total - sent);
      controller.enqueue(new Uint8Array(n).fill(sent % 251));
      sent += n;
      onPull?.(sent);
    },
  });
}

describe.each([
  ['MemoryControlStore', async () => new MemoryControlStore() as ControlStore],
  ['JetStreamControlStore', jetStreamStore],
])('%s', (_name, open) => {
  it('creates, compares-and-sets, puts, deletes and lists keys', async () => {
    const store = await open();
    expect(await store.get('env.shop.production')).toBeUndefined();
    const r1 = await store.create('env.shop.production', enc('one'));
    await expect(store.create('env.shop.production', enc('again'))).rejects.toBeInstanceOf(
      StoreConflictError,
    );
    const r2 = await store.update('env.shop.production', enc('two'), r1);
    expect(r2).toBeGreaterThan(r1);
    // A writer holding the old revision loses.
    await expect(store.update('env.shop.production', enc('stale'), r1)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
      key: 'env.shop.production',
    });
    const got = await store.get('env.shop.production');
    expect(dec(got?.value)).toBe('two');
    expect(got?.revision).toBe(r2);

    await store.put('env.shop.staging', enc('s'));
    await store.put('env.blog.production', enc('b'));
    await store.put('deployment.shop-000000000000', enc('d'));
    expect(await store.keys('env.')).toEqual([
      'env.blog.production',
      'env.shop.production',
      'env.shop.staging',
    ]);
    expect(await store.keys('env.shop.')).toEqual(['env.shop.production', 'env.shop.staging']);

    await expect(store.delete('env.shop.production', { revision: r1 })).rejects.toBeInstanceOf(
      StoreConflictError,
    );
    await store.delete('env.shop.production', { revision: r2 });
    await store.delete('env.shop.staging');
    await store.delete('env.never.written');
    expect(await store.get('env.shop.production')).toBeUndefined();
    expect(await store.keys('env.')).toEqual(['env.blog.production']);
    // A deleted key can be created again.
    await store.create('env.shop.production', enc('three'));
    expect(dec((await store.get('env.shop.production'))?.value)).toBe('three');
  });

  it('refuses keys with wildcards or empty tokens', async () => {
    const store = await open();
    await expect(store.get('env.*')).rejects.toMatchObject({ code: 'FLOTILLA_ERR_INVALID_OPTION' });
    await expect(store.put('env..x', enc('x'))).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
    });
    await expect(store.keys('env')).rejects.toMatchObject({ code: 'FLOTILLA_ERR_INVALID_OPTION' });
  });

  it('watches: the current values first, then every change and delete, until stopped', async () => {
    const store = await open();
    await store.put('env.shop.production', enc('p1'));
    await store.put('deployment.shop-000000000000', enc('not watched'));
    const { events, watch } = collect(store, 'env.');
    await watch.initial;
    expect(events.map((e) => [e.key, dec(e.value)])).toEqual([['env.shop.production', 'p1']]);

    await store.put('env.shop.staging', enc('s1'));
    await store.delete('env.shop.production');
    await waitFor(() => events.length === 3, { timeoutMs: 3000, intervalMs: 5 });
    expect(events.slice(1).map((e) => [e.key, dec(e.value)])).toEqual([
      ['env.shop.staging', 's1'],
      ['env.shop.production', undefined],
    ]);
    expect(events[2]?.revision).toBeGreaterThan(events[1]?.revision ?? Infinity);

    watch.stop();
    await store.put('env.shop.late', enc('x'));
    await new Promise((r) => setTimeout(r, 100));
    expect(events).toHaveLength(3);
  });

  it('resolves the initial snapshot of an empty prefix at once, then pushes changes', async () => {
    const store = await open();
    const { events, watch } = collect(store, 'env.');
    await watch.initial;
    expect(events).toEqual([]);
    await store.put('env.shop.production', enc('p'));
    await waitFor(() => events.length === 1, { timeoutMs: 3000, intervalMs: 5 });
    watch.stop();
  });

  it('stores content-addressed blobs once, whole or not at all', async () => {
    const store = await open();
    const data = new Uint8Array(300_000).map((_, i) => i % 256);
    const progress: number[] = [];
    expect(
      await store.blobPut('sha256-aaa', data, { onProgress: (b) => progress.push(b) }),
    ).toEqual({ created: true, bytes: 300_000 });
    expect(progress.at(-1)).toBe(300_000);
    expect(progress.length).toBeGreaterThan(1);
    expect(await store.blobPut('sha256-aaa', new Uint8Array(1))).toEqual({
      created: false,
      bytes: 300_000,
    });
    expect(await store.blobGet('sha256-aaa')).toEqual(data);
    expect(await store.blobHas('sha256-aaa')).toBe(true);

    // A stream source.
    expect(await store.blobPut('sha256-bbb', bytesStream(1_000_000, 64 * 1024))).toEqual({
      created: true,
      bytes: 1_000_000,
    });
    expect((await store.blobGet('sha256-bbb'))?.byteLength).toBe(1_000_000);

    expect(await store.blobDelete('sha256-aaa')).toBe(true);
    expect(await store.blobDelete('sha256-aaa')).toBe(false);
    expect(await store.blobHas('sha256-aaa')).toBe(false);
    expect(await store.blobGet('sha256-aaa')).toBeUndefined();
    // Deleted, then stored again.
    expect((await store.blobPut('sha256-aaa', data)).created).toBe(true);
    expect(await store.blobGet('sha256-aaa')).toEqual(data);
  });

  it('stores nothing when the upload is aborted or its source fails', async () => {
    const store = await open();
    const abort = new AbortController();
    const source = bytesStream(4_000_000, 64 * 1024, (sent) => {
      if (sent >= 1_000_000) abort.abort(new Error('stop the upload'));
    });
    await expect(store.blobPut('sha256-big', source, { signal: abort.signal })).rejects.toThrow(
      'stop the upload',
    );
    expect(await store.blobHas('sha256-big')).toBe(false);
    expect(await store.blobGet('sha256-big')).toBeUndefined();

    let sent = 0;
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent += 1;
        if (sent > 3) controller.error(new Error('disk gone'));
        else controller.enqueue(new Uint8Array(200_000));
      },
    });
    await expect(store.blobPut('sha256-failing', failing)).rejects.toThrow('disk gone');
    expect(await store.blobHas('sha256-failing')).toBe(false);
  });

  it('lets two concurrent uploads of one blob both succeed, storing it once', async () => {
    const store = await open();
    const data = new Uint8Array(500_000).fill(7);
    const results = await Promise.all([
      store.blobPut('sha256-same', data),
      store.blobPut('sha256-same', data),
    ]);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(results.every((r) => r.bytes === 500_000)).toBe(true);
    expect(await store.blobGet('sha256-same')).toEqual(data);
  });
});

describe('JetStreamControlStore.open', () => {
  it('lets processes racing to create the buckets open the same ones', async () => {
    const clients = await Promise.all(
      [1, 2, 3].map((i) => connect({ servers: server.url, name: `racer-${i}` })),
    );
    try {
      const stores = await Promise.all(
        clients.map((c) =>
          JetStreamControlStore.open(c, { bucket: 'ctl_race', blobBucket: 'blob_race' }),
        ),
      );
      await stores[0]?.put('env.shop.production', enc('from 0'));
      await stores[1]?.blobPut('sha256-shared', enc('blob'));
      expect(dec((await stores[2]?.get('env.shop.production'))?.value)).toBe('from 0');
      expect(dec(await stores[2]?.blobGet('sha256-shared'))).toBe('blob');
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('validates its options', async () => {
    await expect(JetStreamControlStore.open(nc, { replicas: 0 })).rejects.toThrow(
      'option "replicas" must be a positive integer',
    );
    await expect(JetStreamControlStore.open(nc, { history: 100 })).rejects.toThrow(
      'option "history" must be at most 64',
    );
    await expect(
      JetStreamControlStore.open(undefined as unknown as NatsConnection),
    ).rejects.toThrow('option "connection" is required');
  });

  it('keeps a watch going across a server restart', async () => {
    const own = await startNatsServer({ jetstream: true });
    const client = await connect({
      servers: own.url,
      name: 'restart-watch',
      reconnectTimeWait: 50,
      maxReconnectAttempts: -1,
    });
    try {
      const store = await JetStreamControlStore.open(client, { watchRetryMs: 50 });
      const events: ControlWatchEvent[] = [];
      const watch = store.watch('env.', (e) => events.push(e));
      await watch.initial;
      await store.put('env.shop.production', enc('before'));
      await waitFor(() => events.length === 1, { timeoutMs: 3000, intervalMs: 5 });
      const reconnected = (async () => {
        for await (const status of client.status()) if (status.type === 'reconnect') return;
      })();
      await own.restart();
      await reconnected;
      // Writes after the restart reach the watch (JetStream may need a moment to be back).
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await store.put('env.shop.production', enc('after'));
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await waitFor(() => events.some((e) => dec(e.value) === 'after'), {
        timeoutMs: 10_000,
        intervalMs: 5,
      });
      watch.stop();
    } finally {
      await client.close();
      await own.stop();
    }
  });
});
