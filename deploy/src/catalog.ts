/**
 * Reads of the control plane's records: deployments, their manifests
 * (cached: deployments are immutable) and environments, as lists or one at
 * a time.
 */

import type { Manifest } from '@flotilla/manifest';
import { FlotillaError } from '@flotilla/protocol';
import { DEPLOYMENT_ID } from '@flotilla/protocol/patterns';
import type { ControlStore } from './control-store.ts';
import { checkToken as token } from './environment-patch.ts';
import {
  type DeploymentRecord,
  decodeDeployment,
  decodeEnvironment,
  decodeJson,
  deploymentKey,
  type EnvironmentRecord,
  manifestKey,
} from './records.ts';

/** Orders environments by app, then name. */
export function byKey<T extends { app: string; env: string }>(a: T, b: T): number {
  return a.app === b.app ? (a.env < b.env ? -1 : a.env > b.env ? 1 : 0) : a.app < b.app ? -1 : 1;
}

/** The records of one {@link ControlStore}. */
export class Catalog {
  readonly #store: ControlStore;
  readonly #manifests = new Map<string, Manifest>();

  constructor(store: ControlStore) {
    this.#store = store;
  }

  /** Environments of `app` (of every app when absent), sorted by app then name. */
  async environments(app?: string): Promise<EnvironmentRecord[]> {
    if (app !== undefined) token('app', app);
    const keys = await this.#store.keys(app === undefined ? 'env.' : `env.${app}.`);
    const records = await Promise.all(
      keys.map(async (key) => {
        const entry = await this.#store.get(key);
        return entry && decodeEnvironment(key, entry.value, entry.revision);
      }),
    );
    return records.filter((r): r is EnvironmentRecord => r !== undefined).sort(byKey);
  }

  /** Deployments of `app` (of every app when absent), newest first. */
  async deployments(app?: string): Promise<DeploymentRecord[]> {
    if (app !== undefined) token('app', app);
    const keys = await this.#store.keys('deployment.');
    const records = await Promise.all(
      keys.map(async (key) => {
        const entry = await this.#store.get(key);
        return entry && decodeDeployment(key, entry.value);
      }),
    );
    return records
      .filter((r): r is DeploymentRecord => r !== undefined && (app === undefined || r.app === app))
      .sort((a, b) =>
        a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? 1 : -1,
      );
  }

  /** The deployment `id`, or `undefined` when there is none (or `id` is malformed). */
  async deployment(id: string): Promise<DeploymentRecord | undefined> {
    if (typeof id !== 'string' || !DEPLOYMENT_ID.test(id)) return undefined;
    const key = deploymentKey(id);
    const entry = await this.#store.get(key);
    return entry && decodeDeployment(key, entry.value);
  }

  /**
   * The manifest of deployment `id` (cached: deployments are immutable).
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment
   */
  async manifest(id: string): Promise<Manifest> {
    const cached = this.#manifests.get(id);
    if (cached) return cached;
    if ((await this.deployment(id)) === undefined) {
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `deployment ${id} does not exist`);
    }
    const key = manifestKey(id);
    const entry = await this.#store.get(key);
    if (entry === undefined) {
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `deployment ${id} has no manifest`);
    }
    const manifest = decodeJson(key, entry.value) as Manifest;
    this.#manifests.set(id, manifest);
    return manifest;
  }

  /** Forgets the cached manifest of deployment `id` (it was deleted). */
  forget(id: string): void {
    this.#manifests.delete(id);
  }
}
