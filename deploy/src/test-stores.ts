/**
 * The stores the control plane's tests run on, each opened twice over the
 * same data (as two processes would): in memory, one store; on JetStream,
 * two connections to a nats-server of the suite, on fresh buckets per pair.
 *
 * @module
 */
import { type NatsServerHandle, startNatsServer } from '@flotilla/test-harness';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import type { ControlStore } from './control-store.ts';
import { JetStreamControlStore } from './jetstream-control-store.ts';
import { MemoryControlStore } from './memory-control-store.ts';

/** Opens a store twice over the same data. */
export type OpenPair = () => Promise<[ControlStore, ControlStore]>;

/**
 * Starts a nats-server with JetStream for the suite (`beforeAll`, stopped
 * in `afterAll`) and returns both kinds of store pair, named, for
 * `describe.each`.
 *
 * @param suite names the suite's connections and buckets.
 */
export function storePairs(suite: string): Array<[string, OpenPair]> {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let other: NatsConnection;
  let seq = 0;

  beforeAll(async () => {
    server = await startNatsServer({ jetstream: true });
    nc = await connect({ servers: server.url, name: `${suite}-test` });
    other = await connect({ servers: server.url, name: `${suite}-test-other` });
  });

  afterAll(async () => {
    await nc?.close();
    await other?.close();
    await server?.stop();
  });

  const memoryPair: OpenPair = async () => {
    const store = new MemoryControlStore();
    return [store, store];
  };

  const jetStreamPair: OpenPair = async () => {
    seq++;
    const names = { bucket: `ctl_${suite}_${seq}`, blobBucket: `blob_${suite}_${seq}` };
    return Promise.all([
      JetStreamControlStore.open(nc, names),
      JetStreamControlStore.open(other, names),
    ]);
  };

  return [
    ['MemoryControlStore', memoryPair],
    ['JetStreamControlStore', jetStreamPair],
  ];
}
