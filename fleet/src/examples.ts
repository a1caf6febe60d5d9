import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppPointer, LocalDeploymentStore } from '@flotilla/deploy';
import { build as buildReact } from '@flotilla/example-react-shop/build';
import { build as buildVue } from '@flotilla/example-vue-shop/build';

/** The example apps `flotilla start` serves, with their hosts. */
export const EXAMPLE_APPS = [
  { name: 'react-shop', hosts: ['react-shop.localhost'], build: buildReact },
  { name: 'vue-shop', hosts: ['vue-shop.localhost'], build: buildVue },
] as const;

/**
 * Builds both example apps, publishes them into `store` and points each app
 * at its deployment. Content-addressed: an unchanged app keeps its deployment.
 */
export async function publishExamples(
  store: LocalDeploymentStore,
  log: (line: Record<string, unknown>) => void = () => {},
): Promise<AppPointer[]> {
  const out: AppPointer[] = [];
  const tmp = await mkdtemp(join(tmpdir(), 'flotilla-examples-'));
  try {
    for (const app of EXAMPLE_APPS) {
      const started = performance.now();
      const built = await app.build({ outDir: join(tmp, app.name) });
      const deployment = await store.publish(built);
      const pointer = { name: app.name, deploymentId: deployment.id, hosts: [...app.hosts] };
      await store.setApp(pointer);
      out.push(pointer);
      log({
        msg: 'published example',
        app: app.name,
        deployment: deployment.id,
        bytes: built.manifest.bundleBytes,
        ms: Math.round(performance.now() - started),
      });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return out;
}
