import { publishExamples } from '@flotilla/demo';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { startProductsApi } from '@flotilla/example-products-api';
import type { FleetPublisher } from '@flotilla/test-harness';
import { publishBundle, type TestBundle } from '@flotilla/test-harness';
import { connect } from '@nats-io/transport-node';

/** The control plane of a test's nats-server (JetStream on), as a publisher sees it. */
export interface TestControlPlane {
  controlPlane: ControlPlane;
  close(): Promise<void>;
}

/** Connects to `natsUrl` and opens the control plane's buckets there. */
export async function openControlPlane(natsUrl: string): Promise<TestControlPlane> {
  const nc = await connect({ servers: natsUrl, name: 'test-publisher' });
  try {
    const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
    return { controlPlane, close: () => nc.close().catch(() => {}) };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}

/** What {@link publishFixtures} started: the products API the examples fetch from. */
export interface PublishedFixtures {
  /** Origin of the example products API (its own HTTP server in this process). */
  apiUrl: string;
  /** Stops the products API. */
  close(): Promise<void>;
}

/**
 * Starts the example products API on a free port, then publishes the example
 * apps (pointing their `api` backend at it) and `bundles` to the control
 * plane of `natsUrl`, each as its app's `production` deployment.
 */
export async function publishFixtures(
  natsUrl: string,
  options: { bundles?: TestBundle[]; dir: string },
): Promise<PublishedFixtures> {
  const api = await startProductsApi({ port: 0 });
  try {
    const publisher = await openControlPlane(natsUrl);
    try {
      await publishExamples(publisher.controlPlane, () => {}, api.url);
      for (const bundle of options.bundles ?? []) {
        await publishBundle(publisher.controlPlane, options.dir, bundle);
      }
    } finally {
      await publisher.close();
    }
  } catch (err) {
    await api.close();
    throw err;
  }
  return { apiUrl: api.url, close: () => api.close() };
}

/**
 * The publish step of a harness fleet (`startFleet({ publish: fixtures(…) })`):
 * the example apps, their products API, and `bundles`.
 */
export function fixtures(...bundles: TestBundle[]): FleetPublisher {
  return (natsUrl, dir) => publishFixtures(natsUrl, { bundles, dir });
}
