import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalDeploymentStore } from '@flotilla/deploy';

/** A hand-written bundle published as its own app, served at `/<name>/`. */
export interface TestBundle {
  name: string;
  code: string;
  /** Declared backends of the deployment (name → origin). */
  backends?: Record<string, string>;
}

/**
 * Writes `bundle` with a manifest under `dir`, publishes it into `store` and
 * points app `bundle.name` at it (no hosts: served by path prefix).
 */
export async function publishBundle(
  store: LocalDeploymentStore,
  dir: string,
  bundle: TestBundle,
): Promise<void> {
  const out = join(dir, bundle.name);
  await mkdir(out, { recursive: true });
  const bundlePath = join(out, 'bundle.js');
  const manifestPath = join(out, 'manifest.json');
  await writeFile(bundlePath, bundle.code);
  await writeFile(
    manifestPath,
    JSON.stringify({
      manifestVersion: 1,
      name: bundle.name,
      framework: 'none',
      bundleHash: createHash('sha256').update(bundle.code).digest('hex'),
      bundleBytes: Buffer.byteLength(bundle.code),
      builtAt: new Date().toISOString(),
      routes: [],
      backends: bundle.backends ?? {},
    }),
  );
  const deployment = await store.publish({ bundlePath, manifestPath });
  await store.setApp({ name: bundle.name, deploymentId: deployment.id, hosts: [] });
}
