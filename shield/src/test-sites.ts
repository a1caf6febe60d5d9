/**
 * Site helpers of the shield's unit tests: manifests and a control plane in
 * memory. Not exported from the package.
 *
 * @module
 */
import type { Manifest, ManifestAsset, ManifestRoute } from '@flotilla/manifest';
import type { SiteEnvironment, SiteSource } from './site-directory.ts';

/** A manifest of app `name` with these routes and assets. */
export function manifest(
  name: string,
  routes: ManifestRoute[] = [],
  assets: ManifestAsset[] = [],
): Manifest {
  return {
    manifestVersion: 2,
    name,
    framework: 'none',
    bundleHash: 'b'.repeat(64),
    bundleBytes: 10,
    contentHash: 'c'.repeat(64),
    builtAt: '2026-11-22T00:00:00.000Z',
    routes,
    backends: {},
    assets,
  };
}

/** A control plane in memory: environments pushed by `set`, like a KV watch. */
export class FakeSource implements SiteSource {
  readonly manifests: Map<string, Manifest>;
  readonly blobs = new Map<string, Uint8Array>();
  #listener: ((envs: SiteEnvironment[]) => void) | undefined;
  #envs: SiteEnvironment[] = [];
  manifestDelayMs = 0;

  constructor(manifests: Iterable<[string, Manifest]> = []) {
    this.manifests = new Map(manifests);
  }

  watchEnvironments(onChange: (envs: SiteEnvironment[]) => void) {
    this.#listener = onChange;
    onChange(this.#envs);
    return { initial: Promise.resolve(), stop: () => (this.#listener = undefined) };
  }
  async manifest(id: string): Promise<Manifest> {
    if (this.manifestDelayMs) await new Promise((r) => setTimeout(r, this.manifestDelayMs));
    const m = this.manifests.get(id);
    if (!m) throw new Error(`no deployment ${id}`);
    return m;
  }
  async asset(hash: string): Promise<Uint8Array | undefined> {
    return this.blobs.get(hash);
  }
  set(envs: SiteEnvironment[]): void {
    this.#envs = envs;
    this.#listener?.(envs);
  }
}

/** The record of environment `env` of `app`, serving `deploymentId`. */
export function environment(
  app: string,
  env: string,
  deploymentId: string,
  history: string[] = [],
): SiteEnvironment {
  return { app, env, deploymentId, history };
}
