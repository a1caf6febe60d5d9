import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Manifest } from '@flotilla/manifest';
import {
  FlotillaError,
  InvalidOptionError,
  nonEmptyString,
  positiveInt,
  required,
} from '@flotilla/protocol';
import { DEPLOYMENT_ID, HEX64 } from '@flotilla/protocol/patterns';
import { hashFile, sha256Hex, verifiedFileStream } from './build-files.ts';
import type { ControlStore } from './control-store.ts';
import { checkPatch, type EnvironmentPatch, checkToken as token } from './environment-patch.ts';
import { CONFLICT_CODE, StoreConflictError } from './errors.ts';
import { checkManifest } from './manifest-check.ts';
import {
  type DeploymentRecord,
  decodeDeployment,
  decodeEnvironment,
  decodeJson,
  deploymentIdOf,
  deploymentKey,
  type EnvironmentRecord,
  encodeEnvironment,
  encodeJson,
  environmentKey,
  MAX_HISTORY,
  manifestKey,
  type SplitEntry,
} from './records.ts';

/** A build to publish: a directory holding `bundle.js`, `manifest.json` and `assets/`. */
export interface BuildOutput {
  /**
   * The build directory. Each asset of the manifest is read from
   * `<dir>/assets<asset.path>` (e.g. `/assets/app.css` → `<dir>/assets/assets/app.css`).
   */
  dir: string;
}

/** Steps of a publish, in order. */
export type PublishPhase = 'hash' | 'upload' | 'commit' | 'promote';

/** Progress of a publish. */
export interface PublishProgress {
  phase: PublishPhase;
  /** Files hashed (`hash`), bytes uploaded (`upload`), records written (`commit`, `promote`). */
  done: number;
  total: number;
  /** The file concerned (`bundle.js`, `assets/…`), in `hash` and `upload`. */
  file?: string;
}

/** Options of {@link ControlPlane.publish}. */
export interface PublishOptions {
  /** Promote the deployment to this environment (e.g. `production`) once published. */
  env?: string;
  /** Called as the publish progresses (exceptions it throws are logged and ignored). */
  onProgress?: (progress: PublishProgress) => void;
  /**
   * Aborts the publish up to its commit point: no deployment record is
   * written and `publish` rejects with the signal's reason. Blobs already
   * uploaded stay (content-addressed; a later publish reuses them). Once the
   * records are being written the publish runs to completion.
   */
  signal?: AbortSignal;
}

/** What {@link ControlPlane.publish} did. */
export interface PublishResult {
  deployment: DeploymentRecord;
  /** False when the same content was already published (the same deployment). */
  created: boolean;
  /** Host serving this deployment as a preview (`<id>.<previewDomain>`). */
  previewHost: string;
  /** The environment after the promote, when `env` was given. */
  environment?: EnvironmentRecord;
}

export type { EnvironmentPatch } from './environment-patch.ts';

/** A running {@link ControlPlane.watchEnvironments}. */
export interface EnvironmentWatch {
  /** Resolves after the first call of `onChange` (the current list). */
  readonly initial: Promise<void>;
  /** Stops the watch. Idempotent. */
  stop(): void;
}

/** Options of {@link ControlPlane}. */
export interface ControlPlaneOptions {
  /** Where records and blobs live ({@link JetStreamControlStore} or {@link MemoryControlStore}). */
  store: ControlStore;
  /**
   * Domain under which each deployment gets a preview host, `<id>.<previewDomain>`.
   * @default 'preview.localhost'
   */
  previewDomain?: string;
  /**
   * Blobs uploaded at once by a publish.
   * @default 4
   */
  uploadConcurrency?: number;
  /**
   * Attempts of a compare-and-set update of an environment before giving up
   * with `FLOTILLA_ERR_CONFLICT`.
   * @default 10
   */
  casAttempts?: number;
  /** Structured log sink. @default no logging */
  log?: (line: Record<string, unknown>) => void;
}

const HOSTNAME =
  /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** Blob name of content with sha256 `hash`. */
export function blobName(hash: string): string {
  return `sha256-${hash}`;
}

function byKey<T extends { app: string; env: string }>(a: T, b: T): number {
  return a.app === b.app ? (a.env < b.env ? -1 : a.env > b.env ? 1 : 0) : a.app < b.app ? -1 : 1;
}

/** Runs `fn` over `items`, at most `limit` at once; rejects with the first failure. */
async function eachLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const runs = Array.from({ length: Math.min(limit, items.length) }, worker);
  const results = await Promise.allSettled(runs);
  const rejected = results.find((r) => r.status === 'rejected');
  if (rejected) throw (rejected as PromiseRejectedResult).reason;
}

interface BuildFile {
  /** Name in messages and progress (`bundle.js`, `assets/assets/app.css`). */
  label: string;
  path: string;
  hash: string;
  bytes: number;
}

/**
 * The control plane: publishes builds as immutable, content-addressed
 * deployments, points app environments at them (promote, rollback), keeps
 * environment settings (regions, backend overrides, variables) and serves
 * bundles and assets to workers and shields. Every process of the fleet can
 * run one over the same {@link ControlStore}; they agree through
 * compare-and-set writes.
 *
 * Deleting a deployment is refused while an environment serves it; an
 * environment that only has it in its rollback history forgets it. Blobs
 * are never deleted (they are shared between deployments by content).
 *
 * @example
 * const plane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
 * const { deployment } = await plane.publish({ dir: 'dist' }, { env: 'production' });
 * await plane.rollback(deployment.app, 'production');
 */
export class ControlPlane {
  /** Domain of preview hosts. */
  readonly previewDomain: string;
  readonly #store: ControlStore;
  readonly #uploadConcurrency: number;
  readonly #casAttempts: number;
  readonly #log: (line: Record<string, unknown>) => void;
  readonly #manifests = new Map<string, Manifest>();

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: ControlPlaneOptions) {
    required('options', options);
    const store = required('store', options.store);
    for (const method of [
      'get',
      'create',
      'update',
      'keys',
      'watch',
      'blobPut',
      'blobGet',
    ] as const) {
      if (typeof store[method] !== 'function') {
        throw new InvalidOptionError('store', `must be a ControlStore (no ${method}() method)`);
      }
    }
    this.#store = store;
    const domain = nonEmptyString('previewDomain', options.previewDomain, 'preview.localhost');
    if (!HOSTNAME.test(domain)) {
      throw new InvalidOptionError(
        'previewDomain',
        `must be a lower-case host name, got ${JSON.stringify(domain)}`,
      );
    }
    this.previewDomain = domain;
    this.#uploadConcurrency = positiveInt('uploadConcurrency', options.uploadConcurrency, 4);
    this.#casAttempts = positiveInt('casAttempts', options.casAttempts, 10);
    if (options.log !== undefined && typeof options.log !== 'function') {
      throw new InvalidOptionError('log', 'must be a function');
    }
    this.#log = options.log ?? (() => {});
  }

  /** The preview host of a deployment: `<deploymentId>.<previewDomain>`. */
  previewHost(deploymentId: string): string {
    return `${deploymentId}.${this.previewDomain}`;
  }

  /**
   * Publishes a build: validates `manifest.json`, checks the hash and size
   * of `bundle.js` and of every asset, uploads the blobs the store lacks
   * (content-addressed), then writes `manifest.<id>` and `deployment.<id>`,
   * then (with `env`) promotes. Publishing the same content again returns
   * the same deployment with `created: false`. A publish that fails or is
   * aborted before its commit leaves no deployment.
   *
   * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` for a malformed manifest or a
   *   file that is missing or does not match its hash or size;
   *   InvalidOptionError for bad options; the signal's reason when aborted.
   */
  async publish(build: BuildOutput, options: PublishOptions = {}): Promise<PublishResult> {
    required('build', build);
    const dir = resolve(nonEmptyString('build.dir', build?.dir));
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'must be an object');
    }
    const env = options.env === undefined ? undefined : token('env', options.env);
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new InvalidOptionError('onProgress', 'must be a function');
    }
    const signal = options.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new InvalidOptionError('signal', 'must be an AbortSignal');
    }
    const progress = (p: PublishProgress): void => {
      try {
        options.onProgress?.(p);
      } catch (err) {
        this.#log({ msg: 'publish progress listener failed', error: (err as Error).message });
      }
    };
    signal?.throwIfAborted();

    const manifestPath = join(dir, 'manifest.json');
    let text: string;
    try {
      text = await readFile(manifestPath, 'utf8');
    } catch (err) {
      throw new FlotillaError('FLOTILLA_ERR_BUNDLE', `${dir} has no readable manifest.json`, {
        cause: err,
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new FlotillaError('FLOTILLA_ERR_BUNDLE', `${manifestPath} is not valid JSON`, {
        cause: err,
      });
    }
    const manifest = checkManifest(json, manifestPath);
    const id = deploymentIdOf(manifest.name, manifest.contentHash);

    // Hash every file of the build against the manifest.
    const files: BuildFile[] = [
      {
        label: 'bundle.js',
        path: join(dir, 'bundle.js'),
        hash: manifest.bundleHash,
        bytes: manifest.bundleBytes,
      },
      ...manifest.assets.map((a) => ({
        label: `assets${a.path}`,
        path: join(dir, 'assets', ...a.path.slice(1).split('/')),
        hash: a.hash,
        bytes: a.bytes,
      })),
    ];
    progress({ phase: 'hash', done: 0, total: files.length });
    let hashed = 0;
    for (const file of files) {
      let actual: { hash: string; bytes: number };
      try {
        actual = await hashFile(file.path, signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        const missing = (err as { code?: unknown }).code === 'ENOENT';
        throw new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          missing
            ? `${file.label} is missing from ${dir}`
            : `${file.label} in ${dir} cannot be read: ${(err as Error).message}`,
          { cause: err },
        );
      }
      if (actual.hash !== file.hash) {
        throw new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          `${file.label} hashes to ${actual.hash}, but the manifest says ${file.hash}`,
        );
      }
      if (actual.bytes !== file.bytes) {
        throw new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          `${file.label} has ${actual.bytes} bytes, but the manifest says ${file.bytes}`,
        );
      }
      progress({ phase: 'hash', done: ++hashed, total: files.length, file: file.label });
    }

    let deployment = await this.deployment(id);
    let created = false;
    if (deployment !== undefined) {
      if (deployment.contentHash !== manifest.contentHash) throw this.#collision(id, deployment);
    } else {
      await this.#upload(files, signal, progress);
      // Commit point: an abort is honoured up to here, never half way through the records.
      signal?.throwIfAborted();
      progress({ phase: 'commit', done: 0, total: 2 });
      await this.#commitManifest(id, manifest);
      progress({ phase: 'commit', done: 1, total: 2 });
      const record: DeploymentRecord = {
        id,
        app: manifest.name,
        contentHash: manifest.contentHash,
        bundleHash: manifest.bundleHash,
        framework: manifest.framework,
        bundleBytes: manifest.bundleBytes,
        assetCount: manifest.assets.length,
        createdAt: new Date().toISOString(),
        ...(env === undefined ? {} : { publishedFor: env }),
      };
      try {
        await this.#store.create(deploymentKey(id), encodeJson(record));
        deployment = record;
        created = true;
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
        // A concurrent publish of the same build committed first.
        deployment = await this.deployment(id);
        if (deployment === undefined) throw err;
        if (deployment.contentHash !== manifest.contentHash) throw this.#collision(id, deployment);
      }
      progress({ phase: 'commit', done: 2, total: 2 });
    }
    this.#log({ msg: created ? 'deployment published' : 'deployment already published', id });

    let environment: EnvironmentRecord | undefined;
    if (env !== undefined) {
      progress({ phase: 'promote', done: 0, total: 1 });
      environment = await this.promote(id, env);
      progress({ phase: 'promote', done: 1, total: 1 });
    }
    return {
      deployment,
      created,
      previewHost: this.previewHost(id),
      ...(environment === undefined ? {} : { environment }),
    };
  }

  /**
   * Points environment `env` of the deployment's app at `deploymentId`,
   * creating the environment when missing; the deployment it served goes to
   * the front of the history. Promoting the deployment already served
   * changes nothing; promoting another one ends a split test.
   *
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment
   */
  async promote(deploymentId: string, env: string): Promise<EnvironmentRecord> {
    token('env', env);
    const deployment = await this.deployment(deploymentId);
    if (deployment === undefined) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `deployment ${deploymentId} does not exist`,
      );
    }
    const record = await this.#updateEnvironment(deployment.app, env, async (current, now) => {
      if (current === undefined) {
        return {
          app: deployment.app,
          env,
          deploymentId,
          history: [],
          backends: {},
          vars: {},
          updatedAt: now,
        };
      }
      if (current.deploymentId === deploymentId) return current;
      const history = [current.deploymentId, ...current.history].filter(
        (h, i, all) => h !== deploymentId && all.indexOf(h) === i,
      );
      // A promote sends every visitor to the deployment: it ends a split test.
      const { split: _ended, ...rest } = current;
      return { ...rest, deploymentId, history: history.slice(0, MAX_HISTORY), updatedAt: now };
    });
    this.#log({ msg: 'promoted', app: deployment.app, env, deploymentId });
    return record;
  }

  /**
   * Points environment `env` of `app` back at the deployment it served
   * before (the first of its history, which it then forgets); ends a split
   * test.
   *
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` when the environment does
   *   not exist; `FLOTILLA_ERR_CONFLICT`
   *   when it has no earlier deployment to go back to.
   */
  async rollback(app: string, env: string): Promise<EnvironmentRecord> {
    token('app', app);
    token('env', env);
    const record = await this.#updateEnvironment(app, env, async (current, now) => {
      if (current === undefined) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `app ${app} has no environment ${env}: nothing to roll back`,
        );
      }
      const history = [...current.history];
      // Skip deployments deleted since (deleteDeployment prunes histories, this is a safety net).
      while (history.length > 0 && (await this.deployment(history[0] as string)) === undefined) {
        history.shift();
      }
      const previous = history.shift();
      if (previous === undefined) {
        throw new FlotillaError(
          CONFLICT_CODE,
          `environment ${env} of ${app} has no earlier deployment to roll back to (it serves ${current.deploymentId}, its first)`,
        );
      }
      // Like a promote, a rollback sends every visitor to one deployment: it ends a split test.
      const { split: _ended, ...rest } = current;
      return { ...rest, deploymentId: previous, history, updatedAt: now };
    });
    this.#log({ msg: 'rolled back', app, env, deploymentId: record.deploymentId });
    return record;
  }

  /**
   * Changes the settings of an existing environment (see {@link EnvironmentPatch}).
   *
   * @throws InvalidOptionError naming the bad field (including a backend the
   *   current deployment's manifest does not declare, or a split deployment
   *   of another app); FlotillaError `FLOTILLA_ERR_NOT_FOUND` when the
   *   environment or a split deployment does not exist.
   */
  async configure(app: string, env: string, patch: EnvironmentPatch): Promise<EnvironmentRecord> {
    token('app', app);
    token('env', env);
    const p = checkPatch(patch);
    if (p.split) await this.#checkSplitDeployments(app, p.split);
    return this.#updateEnvironment(app, env, async (current, now) => {
      if (current === undefined) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `app ${app} has no environment ${env}: promote a deployment to it first`,
        );
      }
      const next: Omit<EnvironmentRecord, 'revision'> = {
        ...current,
        backends: { ...current.backends },
        vars: { ...current.vars },
        updatedAt: now,
      };
      for (const field of ['primaryRegion', 'secondaryRegion'] as const) {
        const value = p[field];
        if (value === null) delete next[field];
        else if (value !== undefined) next[field] = value;
      }
      if (next.primaryRegion !== undefined && next.primaryRegion === next.secondaryRegion) {
        // A new primary that was the secondary: it no longer needs a standby of itself.
        if (p.secondaryRegion === undefined) delete next.secondaryRegion;
        else
          throw new InvalidOptionError(
            'secondaryRegion',
            `must differ from primaryRegion (${next.primaryRegion})`,
          );
      }
      if (p.backends !== undefined) {
        const manifest = await this.manifest(current.deploymentId);
        const declared = Object.keys(manifest.backends);
        for (const [name, origin] of Object.entries(p.backends)) {
          if (!Object.hasOwn(manifest.backends, name)) {
            throw new InvalidOptionError(
              `backends.${name}`,
              `is not a backend of ${current.deploymentId} (its manifest declares ${declared.length === 0 ? 'none' : declared.join(', ')})`,
            );
          }
          if (origin === null) delete next.backends[name];
          else next.backends[name] = origin;
        }
      }
      for (const [name, value] of Object.entries(p.vars ?? {})) {
        if (value === null) delete next.vars[name];
        else next.vars[name] = value;
      }
      if (p.split === null) delete next.split;
      else if (p.split !== undefined) {
        if (!p.split.some((e) => e.deploymentId === current.deploymentId)) {
          throw new InvalidOptionError(
            'split',
            `must include ${current.deploymentId}, the deployment environment ${env} of ${app} serves (promote another deployment first to leave it out)`,
          );
        }
        next.split = p.split.map((e) => ({ ...e }));
      }
      return next;
    });
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

  /**
   * The bytes of deployment `id`'s `bundle.js`, checked against its hash.
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment
   *   (or a missing blob), `FLOTILLA_ERR_BUNDLE` when the bytes do not match
   */
  async bundle(id: string): Promise<Uint8Array> {
    const deployment = await this.deployment(id);
    if (deployment === undefined) {
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `deployment ${id} does not exist`);
    }
    const bytes = await this.#store.blobGet(blobName(deployment.bundleHash));
    if (bytes === undefined) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `bundle ${blobName(deployment.bundleHash)} of deployment ${id} is missing from the blob store`,
      );
    }
    const actual = sha256Hex(bytes);
    if (actual !== deployment.bundleHash) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `bundle of deployment ${id} hashes to ${actual}, expected ${deployment.bundleHash}`,
      );
    }
    return bytes;
  }

  /**
   * The bytes of the asset (or bundle) with sha256 `hash`, checked; `undefined`
   * when the store has none (or `hash` is not a sha256 in hex).
   * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` when the stored bytes do not match
   */
  async asset(hash: string): Promise<Uint8Array | undefined> {
    if (typeof hash !== 'string' || !HEX64.test(hash)) return undefined;
    const bytes = await this.#store.blobGet(blobName(hash));
    if (bytes === undefined) return undefined;
    const actual = sha256Hex(bytes);
    if (actual !== hash) {
      throw new FlotillaError('FLOTILLA_ERR_BUNDLE', `blob ${blobName(hash)} hashes to ${actual}`);
    }
    return bytes;
  }

  /**
   * Deletes deployment `id` (its records; blobs stay, they may be shared).
   * Refused while an environment serves it; environments that only have it
   * in their rollback history forget it.
   *
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment,
   *   `FLOTILLA_ERR_CONFLICT` while an
   *   environment serves it
   */
  async deleteDeployment(id: string): Promise<void> {
    const key = deploymentKey(id);
    const deployment = await this.deployment(id);
    const entry = deployment && (await this.#store.get(key));
    if (deployment === undefined || entry === undefined) {
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `deployment ${id} does not exist`);
    }
    const serving = async (): Promise<EnvironmentRecord[]> =>
      (await this.environments(deployment.app)).filter(
        (e) => e.deploymentId === id || e.split?.some((s) => s.deploymentId === id) === true,
      );
    const inUse = (envs: EnvironmentRecord[]): FlotillaError =>
      new FlotillaError(
        CONFLICT_CODE,
        `deployment ${id} is served by environment ${envs.map((e) => e.env).join(', ')} of ${deployment.app}: promote another deployment first`,
      );
    const before = await serving();
    if (before.length > 0) throw inUse(before);
    await this.#store.delete(key, { revision: entry.revision });
    // A promote that read the record just before it went: put it back and refuse.
    const after = await serving();
    if (after.length > 0) {
      await this.#store.create(key, entry.value).catch(() => {});
      throw inUse(after);
    }
    for (const env of await this.environments(deployment.app)) {
      if (!env.history.includes(id)) continue;
      await this.#updateEnvironment(env.app, env.env, async (current, now) =>
        current === undefined || !current.history.includes(id)
          ? current
          : { ...current, history: current.history.filter((h) => h !== id), updatedAt: now },
      ).catch((err: unknown) => {
        this.#log({ msg: 'history prune failed', id, env: env.env, error: String(err) });
      });
    }
    await this.#store.delete(manifestKey(id));
    this.#manifests.delete(id);
    this.#log({ msg: 'deployment deleted', id });
  }

  /**
   * Calls `onChange` with every environment (sorted by app, then name) once
   * the current ones are known, and again after every change, as the store
   * pushes it (a promote elsewhere is seen within milliseconds, no polling).
   *
   * @example
   * const watch = plane.watchEnvironments((envs) => router.update(envs));
   * await watch.initial;
   */
  watchEnvironments(onChange: (environments: EnvironmentRecord[]) => void): EnvironmentWatch {
    if (typeof onChange !== 'function')
      throw new InvalidOptionError('onChange', 'must be a function');
    const current = new Map<string, EnvironmentRecord>();
    let live = false;
    let stopped = false;
    const emit = (): void => {
      if (stopped) return;
      const list = [...current.values()].sort(byKey);
      try {
        onChange(list);
      } catch (err) {
        this.#log({ msg: 'environment listener failed', error: (err as Error).message });
      }
    };
    const watch = this.#store.watch('env.', (event) => {
      if (event.value === undefined) {
        if (!current.delete(event.key)) return;
      } else {
        try {
          current.set(event.key, decodeEnvironment(event.key, event.value, event.revision));
        } catch (err) {
          this.#log({
            msg: 'bad environment record',
            key: event.key,
            error: (err as Error).message,
          });
          return;
        }
      }
      if (live) emit();
    });
    const initial = watch.initial.then(() => {
      live = true;
      emit();
    });
    initial.catch(() => {});
    return {
      initial,
      stop: () => {
        stopped = true;
        watch.stop();
      },
    };
  }

  #collision(id: string, existing: DeploymentRecord): FlotillaError {
    return new FlotillaError(
      CONFLICT_CODE,
      `deployment id ${id} is taken by content ${existing.contentHash}; change the build to publish it`,
    );
  }

  /** Every deployment of a split exists and belongs to `app`. */
  async #checkSplitDeployments(app: string, split: SplitEntry[]): Promise<void> {
    const records = await Promise.all(split.map((e) => this.deployment(e.deploymentId)));
    for (const [i, entry] of split.entries()) {
      const record = records[i];
      if (record === undefined) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `deployment ${entry.deploymentId} of the split does not exist`,
        );
      }
      if (record.app !== app) {
        throw new InvalidOptionError(
          `split[${i}].deploymentId`,
          `${entry.deploymentId} is a deployment of ${record.app}, not of ${app}`,
        );
      }
    }
  }

  /**
   * Compare-and-set update of `env.<app>.<env>`: `change` gets the current
   * record (undefined when missing) and returns the next one (the same object
   * for "no change"); it runs again when another writer got in first.
   */
  async #updateEnvironment(
    app: string,
    env: string,
    change: (
      current: EnvironmentRecord | undefined,
      now: string,
    ) => Promise<Omit<EnvironmentRecord, 'revision'> | undefined>,
  ): Promise<EnvironmentRecord> {
    const key = environmentKey(app, env);
    let lastConflict: unknown;
    for (let attempt = 0; attempt < this.#casAttempts; attempt++) {
      const entry = await this.#store.get(key);
      const current = entry && decodeEnvironment(key, entry.value, entry.revision);
      const next = await change(current, new Date().toISOString());
      if (next === undefined) {
        throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `app ${app} has no environment ${env}`);
      }
      if (next === current && current !== undefined) return current;
      try {
        const revision =
          entry === undefined
            ? await this.#store.create(key, encodeEnvironment(next))
            : await this.#store.update(key, encodeEnvironment(next), entry.revision);
        return { ...next, revision };
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
        lastConflict = err;
        // Back off a little (randomised) so racing writers spread out.
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new FlotillaError(
      CONFLICT_CODE,
      `environment ${env} of ${app} kept changing under ${this.#casAttempts} attempts to update it; try again`,
      { cause: lastConflict },
    );
  }

  async #commitManifest(id: string, manifest: Manifest): Promise<void> {
    const key = manifestKey(id);
    try {
      await this.#store.create(key, encodeJson(manifest));
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
      // Same content published concurrently (or an interrupted earlier publish): fine if identical.
      const existing = await this.#store.get(key);
      const stored = existing && (decodeJson(key, existing.value) as Partial<Manifest>);
      if (stored === undefined) {
        await this.#store.create(key, encodeJson(manifest));
      } else if (stored.contentHash !== manifest.contentHash) {
        throw new FlotillaError(
          CONFLICT_CODE,
          `deployment id ${id} is taken by content ${String(stored.contentHash)}; change the build to publish it`,
        );
      }
    }
  }

  async #upload(
    files: BuildFile[],
    signal: AbortSignal | undefined,
    progress: (p: PublishProgress) => void,
  ): Promise<void> {
    const unique = new Map<string, BuildFile>();
    for (const file of files) if (!unique.has(file.hash)) unique.set(file.hash, file);
    const present = new Set<string>();
    await eachLimit([...unique.values()], 16, async (file) => {
      if (await this.#store.blobHas(blobName(file.hash))) present.add(file.hash);
    });
    const missing = [...unique.values()].filter((f) => !present.has(f.hash));
    const total = missing.reduce((sum, f) => sum + f.bytes, 0);
    let done = 0;
    progress({ phase: 'upload', done, total });
    await eachLimit(missing, this.#uploadConcurrency, async (file) => {
      signal?.throwIfAborted();
      let sent = 0;
      await this.#store.blobPut(
        blobName(file.hash),
        verifiedFileStream(file.path, file.label, file.hash),
        {
          ...(signal === undefined ? {} : { signal }),
          onProgress: (bytes) => {
            done += bytes - sent;
            sent = bytes;
            progress({ phase: 'upload', done, total, file: file.label });
          },
        },
      );
      done += file.bytes - sent;
      if (file.bytes !== sent) progress({ phase: 'upload', done, total, file: file.label });
    });
  }
}
