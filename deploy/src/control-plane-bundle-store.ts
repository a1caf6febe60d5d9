import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type ManifestLimits, prewarmPath, prewarmPaths } from '@flotilla/manifest';
import {
  FlotillaError,
  InvalidOptionError,
  isSubjectToken,
  type LogFn,
  nonEmptyString,
  required,
} from '@flotilla/protocol';
import { DEPLOYMENT_ID } from '@flotilla/protocol/patterns';
import { normalizeOrigin } from '@flotilla/protocol/schema';
import { hashFile } from './build-files.ts';
import type { ControlPlane } from './control-plane.ts';
import type { EnvironmentWatch } from './environments.ts';
import type { EnvironmentRecord } from './records.ts';
import { SecretKeyring } from './secret-envelope.ts';

/**
 * What a worker needs to run a deployment (the shape of `ResolvedBundle` in
 * `@flotilla/workers`).
 */
export interface ControlPlaneResolvedBundle {
  deploymentId: string;
  /** `bundle.js` on this machine (`<cacheDir>/<bundleHash>.js`). */
  bundlePath: string;
  bundleHash: string;
  /**
   * Backends the bundle may fetch (name → origin): the manifest's, with the
   * environment's overrides of declared names on top.
   */
  backends: Record<string, string>;
  /** The environment's variables; absent when no environment was asked for (a preview). */
  env?: Record<string, string>;
  /**
   * The sandbox limits the deployment's manifest asks for (its `limits`),
   * the same in every environment; the worker holds its renders to the
   * smaller of these and the operator's. Absent: the operator's limits.
   */
  limits?: ManifestLimits;
  /** Path a pre-warm renders, `null` for none (the manifest's `prewarmPath`). */
  prewarmPath: string | null;
  /** Every path a pre-warm renders (the manifest's `prewarmPaths`: real routes, its prerender list). */
  prewarmPaths: string[];
}

/** Options of {@link ControlPlaneBundleStore}. */
export interface ControlPlaneBundleStoreOptions {
  /** The control plane to read deployments and environments from. */
  controlPlane: ControlPlane;
  /** Local directory where bundles are written (created when missing). */
  cacheDir: string;
  /**
   * The secrets keys this process holds, newest first: secret variables are
   * decrypted with them just before a render. A render of an environment
   * with a secret none of them opens fails with `FLOTILLA_ERR_SECRET`.
   * @default none (environments without secrets render; others fail)
   */
  secretKeys?: SecretKeyring;
  /** Structured log sink. @default no logging */
  log?: LogFn;
}

interface Base {
  app: string;
  bundlePath: string;
  bundleHash: string;
  backends: Record<string, string>;
  limits: ManifestLimits | undefined;
  prewarmPath: string | null;
  prewarmPaths: string[];
}

/**
 * The workers' `BundleStore` over the control plane: writes each bundle
 * once into a local cache directory (atomically: temp file, then rename;
 * named by its hash, checked on first use), and gives each render the
 * environment's view: backend overrides merged over the manifest's backends,
 * and the environment's variables (with the limits the manifest asks for,
 * the same in every environment). Environments are kept current by a push
 * watch started on the first resolve that names one.
 *
 * @example
 * const bundles = new ControlPlaneBundleStore({ controlPlane, cacheDir: '/var/cache/flotilla' });
 * const { bundlePath, backends, env } = await bundles.resolve('shop-3f2a1b9c0d1e', 'production');
 */
export class ControlPlaneBundleStore {
  /** The cache directory (absolute). */
  readonly cacheDir: string;
  readonly #plane: ControlPlane;
  readonly #log: LogFn;
  readonly #bases = new Map<string, Promise<Base>>();
  readonly #environments = new Map<string, EnvironmentRecord>();
  readonly #keys: SecretKeyring;
  /** `<app>.<env>` → the decrypted secrets of one revision of its record. */
  readonly #opened = new Map<string, { revision: number; values: Record<string, string> }>();
  #watch: EnvironmentWatch | undefined;
  #closed = false;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: ControlPlaneBundleStoreOptions) {
    required('options', options);
    this.#plane = required('controlPlane', options.controlPlane);
    if (typeof this.#plane.watchEnvironments !== 'function') {
      throw new InvalidOptionError('controlPlane', 'must be a ControlPlane');
    }
    this.cacheDir = resolve(nonEmptyString('cacheDir', options.cacheDir));
    if (options.log !== undefined && typeof options.log !== 'function') {
      throw new InvalidOptionError('log', 'must be a function');
    }
    this.#log = options.log ?? (() => {});
    if (options.secretKeys !== undefined && !(options.secretKeys instanceof SecretKeyring)) {
      throw new InvalidOptionError('secretKeys', 'must be a SecretKeyring');
    }
    this.#keys = options.secretKeys ?? new SecretKeyring([]);
  }

  /**
   * Where deployment `deploymentId`'s bundle is on this machine, and the
   * backends and variables of `environment` (e.g. `production`; absent for
   * a preview: manifest backends, no variables).
   *
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment,
   *   `FLOTILLA_ERR_BUNDLE` when its bundle does not match its hash
   */
  async resolve(deploymentId: string, environment?: string): Promise<ControlPlaneResolvedBundle> {
    if (typeof deploymentId !== 'string' || !DEPLOYMENT_ID.test(deploymentId)) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `deployment id ${JSON.stringify(deploymentId)} is invalid`,
      );
    }
    if (environment !== undefined && !isSubjectToken(environment)) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `environment ${JSON.stringify(environment)} is invalid`,
      );
    }
    const base = await this.#base(deploymentId);
    const resolved: ControlPlaneResolvedBundle = {
      deploymentId,
      bundlePath: base.bundlePath,
      bundleHash: base.bundleHash,
      backends: { ...base.backends },
      ...(base.limits ? { limits: { ...base.limits } } : {}),
      prewarmPath: base.prewarmPath,
      prewarmPaths: base.prewarmPaths,
    };
    if (environment === undefined) return resolved;
    await this.#watchEnvironments();
    const record = this.#environments.get(`${base.app}.${environment}`);
    for (const [name, origin] of Object.entries(record?.backends ?? {})) {
      if (Object.hasOwn(base.backends, name)) resolved.backends[name] = origin;
    }
    resolved.env = { ...(record?.vars ?? {}), ...(record ? this.#secrets(record) : {}) };
    return resolved;
  }

  /**
   * The decrypted secret variables of an environment (once per revision of
   * its record).
   * @throws FlotillaError `FLOTILLA_ERR_SECRET` (logged with the app,
   *   environment and variable name, never a value)
   */
  #secrets(record: EnvironmentRecord): Record<string, string> {
    const names = Object.keys(record.secrets);
    if (names.length === 0) return {};
    const key = `${record.app}.${record.env}`;
    const cached = this.#opened.get(key);
    if (cached?.revision === record.revision) return cached.values;
    const values: Record<string, string> = {};
    for (const name of names) {
      const envelope = record.secrets[name] as EnvironmentRecord['secrets'][string];
      try {
        values[name] = this.#keys.open({ app: record.app, env: record.env, name }, envelope);
      } catch (err) {
        this.#log({
          msg: 'secret not decrypted',
          app: record.app,
          env: record.env,
          variable: name,
          kid: envelope.kid,
          error: (err as Error).message,
        });
        throw err;
      }
    }
    this.#opened.set(key, { revision: record.revision, values });
    return values;
  }

  /** Stops watching environments. Idempotent; `resolve` still works for previews. */
  close(): void {
    this.#closed = true;
    this.#watch?.stop();
  }

  #base(deploymentId: string): Promise<Base> {
    let base = this.#bases.get(deploymentId);
    if (base === undefined) {
      base = this.#load(deploymentId);
      this.#bases.set(deploymentId, base);
      // A failure is not cached: the next resolve tries again.
      base.catch(() => this.#bases.delete(deploymentId));
    }
    return base;
  }

  async #load(deploymentId: string): Promise<Base> {
    const deployment = await this.#plane.deployment(deploymentId);
    if (deployment === undefined) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `deployment ${deploymentId} does not exist`,
      );
    }
    const manifest = await this.#plane.manifest(deploymentId);
    const backends: Record<string, string> = {};
    for (const [name, origin] of Object.entries(manifest.backends ?? {})) {
      backends[name] = normalizeOrigin(origin) ?? origin;
    }
    const bundlePath = join(this.cacheDir, `${deployment.bundleHash}.js`);
    const onDisk = await hashFile(bundlePath).catch(() => undefined);
    if (onDisk?.hash !== deployment.bundleHash) {
      const bytes = await this.#plane.bundle(deploymentId);
      await mkdir(this.cacheDir, { recursive: true });
      const tmp = `${bundlePath}.${randomBytes(6).toString('hex')}.tmp`;
      try {
        await writeFile(tmp, bytes);
        await rename(tmp, bundlePath);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
      this.#log({ msg: 'bundle cached', deploymentId, bundlePath, bytes: bytes.byteLength });
    }
    return {
      app: deployment.app,
      bundlePath,
      bundleHash: deployment.bundleHash,
      backends,
      limits: manifest.limits,
      prewarmPath: prewarmPath(manifest),
      prewarmPaths: prewarmPaths(manifest),
    };
  }

  async #watchEnvironments(): Promise<void> {
    if (this.#watch === undefined && !this.#closed) {
      this.#watch = this.#plane.watchEnvironments((envs) => {
        this.#environments.clear();
        for (const e of envs) this.#environments.set(`${e.app}.${e.env}`, e);
      });
      this.#watch.initial.catch((err: unknown) => {
        this.#log({ msg: 'environment watch failed', error: String(err) });
        this.#watch = undefined;
      });
    }
    await this.#watch?.initial;
  }
}
