/**
 * The fleet the miss-path and shield-cache benches drive, as in production:
 * a real nats-server (JetStream), the example apps published into its
 * control plane (their products API in this process), and every role a
 * `flotilla start --role …` process of its own (`startFleet` of the test
 * harness), logging JSON.
 *
 * @module
 */
import { publishExamples } from '@flotilla/demo';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { startProductsApi } from '@flotilla/example-products-api';
import { connectNats } from '@flotilla/fleet';
import {
  type Fleet,
  type FleetOptions,
  type FleetPublisher,
  startFleet,
} from '@flotilla/test-harness';

/** The region of the benches' fleets. */
const REGION = 'bench';

/** Starts the products API, then publishes both example shops pointing at it. */
const publishShops: FleetPublisher = async (natsUrl) => {
  const api = await startProductsApi({ port: 0 });
  try {
    const nc = await connectNats(natsUrl, 'bench-publisher');
    try {
      const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
      const apps = await publishExamples(controlPlane, () => {}, api.url);
      if (!apps.some((id) => id.startsWith('react-shop-'))) {
        throw new Error('publishExamples did not publish react-shop');
      }
    } finally {
      await nc.close();
    }
  } catch (err) {
    await api.close();
    throw err;
  }
  return api;
};

/** How many processes of each role, and whether the shields cache. */
export type ShopFleetOptions = Pick<FleetOptions, 'shields' | 'schedulers' | 'workers' | 'cache'>;

/**
 * Starts the fleet (workers with 1 piscina thread each) with both example
 * shops published, and resolves once every scheduler sees every worker.
 * `stop()` ends the processes, nats-server and the products API.
 */
export function startShopFleet(options: ShopFleetOptions): Promise<Fleet> {
  const json = ['--log-format', 'json'];
  return startFleet({
    ...options,
    region: REGION,
    args: { shield: json, scheduler: json, worker: json },
    publish: publishShops,
  });
}
