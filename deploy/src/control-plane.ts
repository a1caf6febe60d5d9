import type { Manifest } from '@flotilla/manifest';
import {
  FlotillaError,
  InvalidOptionError,
  type LogFn,
  nonEmptyString,
  positiveInt,
  required,
} from '@flotilla/protocol';
import { readBlob, readBundle } from './blobs.ts';
import { Catalog } from './catalog.ts';
import type { ControlStore } from './control-store.ts';
import type { EnvironmentPatch, SecretRewraps } from './environment-patch.ts';
import { Environments, type EnvironmentWatch } from './environments.ts';
import { CONFLICT_CODE } from './errors.ts';
import { HOSTNAME } from './option-checks.ts';
import { type BuildOutput, Publisher, type PublishOptions, type PublishResult } from './publish.ts';
import {
  type DeploymentRecord,
  decodeSecretsKey,
  deploymentKey,
  type EnvironmentRecord,
  encodeJson,
  manifestKey,
  SECRETS_KEY_KEY,
  type SecretsKeyRecord,
} from './records.ts';
import {
  type RedirectTablePage,
  type RedirectTableRecord,
  RedirectTables,
  type StagedRedirects,
} from './redirect-tables.ts';
import { keyIdOf, parsePublicKey } from './secret-envelope.ts';

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
  log?: LogFn;
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
  readonly #log: LogFn;
  readonly #catalog: Catalog;
  readonly #environments: Environments;
  readonly #publisher: Publisher;
  readonly #redirects: RedirectTables;

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
    const uploadConcurrency = positiveInt('uploadConcurrency', options.uploadConcurrency, 4);
    const casAttempts = positiveInt('casAttempts', options.casAttempts, 10);
    if (options.log !== undefined && typeof options.log !== 'function') {
      throw new InvalidOptionError('log', 'must be a function');
    }
    this.#log = options.log ?? (() => {});
    this.#catalog = new Catalog(store);
    this.#environments = new Environments({
      store,
      catalog: this.#catalog,
      casAttempts,
      log: this.#log,
    });
    this.#redirects = new RedirectTables(store, this.#log);
    this.#publisher = new Publisher({
      store,
      catalog: this.#catalog,
      uploadConcurrency,
      log: this.#log,
      promote: (deploymentId, env) => this.promote(deploymentId, env),
      previewHost: (deploymentId) => this.previewHost(deploymentId),
    });
  }

  /** The preview host of a deployment: `<deploymentId>.<previewDomain>`. */
  previewHost(deploymentId: string): string {
    return `${deploymentId}.${this.previewDomain}`;
  }

  /**
   * Publishes a build: validates `manifest.json`, refuses a `bundle.js`
   * over `MAX_BUNDLE_BYTES` (10 MiB, or the manifest's smaller
   * `limits.bundleBytes`) before anything is uploaded, checks the hash and size
   * of `bundle.js` and of every asset, uploads the blobs the store lacks
   * (content-addressed), then writes `manifest.<id>` and `deployment.<id>`,
   * then (with `env`) promotes. Publishing the same content again returns
   * the same deployment with `created: false`. A publish that fails or is
   * aborted before its commit leaves no deployment.
   *
   * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` for a malformed manifest, a
   *   bundle over the cap (naming its size and the cap), or a
   *   file that is missing or does not match its hash or size;
   *   InvalidOptionError for bad options; the signal's reason when aborted.
   */
  publish(build: BuildOutput, options: PublishOptions = {}): Promise<PublishResult> {
    return this.#publisher.publish(build, options);
  }

  /**
   * Points environment `env` of the deployment's app at `deploymentId`,
   * creating the environment when missing; the deployment it served goes to
   * the front of the history. Promoting the deployment already served
   * changes nothing; promoting another one ends a split test.
   *
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment
   */
  promote(deploymentId: string, env: string): Promise<EnvironmentRecord> {
    return this.#environments.promote(deploymentId, env);
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
  rollback(app: string, env: string): Promise<EnvironmentRecord> {
    return this.#environments.rollback(app, env);
  }

  /**
   * Changes the settings of an existing environment (see {@link EnvironmentPatch}).
   *
   * @throws InvalidOptionError naming the bad field (including a backend the
   *   current deployment's manifest does not declare, or a split deployment
   *   of another app); FlotillaError `FLOTILLA_ERR_NOT_FOUND` when the
   *   environment or a split deployment does not exist.
   */
  configure(app: string, env: string, patch: EnvironmentPatch): Promise<EnvironmentRecord> {
    return this.#environments.configure(app, env, patch);
  }

  /**
   * The fleet's secrets public key, which CLIs seal secret values to;
   * `undefined` until an operator set one ({@link setSecretsKey}).
   */
  async secretsKey(): Promise<SecretsKeyRecord | undefined> {
    const entry = await this.#store.get(SECRETS_KEY_KEY);
    return entry && decodeSecretsKey(SECRETS_KEY_KEY, entry.value);
  }

  /**
   * Makes `publicKeyPem` (an X25519 public key, SPKI PEM, or the private key
   * it belongs to: only its public half is stored) the fleet's secrets key:
   * new secrets are sealed to it. Secrets sealed to an earlier key stay as
   * they are until re-encrypted (`flotilla secrets-key rotate`).
   *
   * @throws InvalidOptionError when it is not an X25519 key
   */
  async setSecretsKey(publicKeyPem: string): Promise<SecretsKeyRecord> {
    if (typeof publicKeyPem !== 'string') {
      throw new InvalidOptionError('publicKey', 'must be a PEM string');
    }
    const key = parsePublicKey('publicKey', publicKeyPem);
    const record: SecretsKeyRecord = {
      kid: keyIdOf(key),
      publicKey: key.export({ format: 'pem', type: 'spki' }) as string,
      updatedAt: new Date().toISOString(),
    };
    const entry = await this.#store.get(SECRETS_KEY_KEY);
    if (entry === undefined) await this.#store.create(SECRETS_KEY_KEY, encodeJson(record));
    else await this.#store.update(SECRETS_KEY_KEY, encodeJson(record), entry.revision);
    this.#log({ msg: 'secrets key set', kid: record.kid });
    return record;
  }

  /**
   * Replaces secrets of environment `env` of `app` by the same values
   * sealed to another key (key rotation: the caller, who holds the private
   * keys, decrypted and re-encrypted them). Each replacement applies only if
   * the stored envelope is still `from`, in one compare-and-set update, so a
   * secret set again during the rotation keeps its new value.
   *
   * @returns the environment and the names replaced
   * @throws InvalidOptionError naming a malformed rewrap; FlotillaError
   *   `FLOTILLA_ERR_NOT_FOUND` when the environment does not exist
   */
  rewrapSecrets(
    app: string,
    env: string,
    rewraps: SecretRewraps,
  ): Promise<{ environment: EnvironmentRecord; replaced: string[] }> {
    return this.#environments.rewrapSecrets(app, env, rewraps);
  }

  /** Environments of `app` (of every app when absent), sorted by app then name. */
  environments(app?: string): Promise<EnvironmentRecord[]> {
    return this.#catalog.environments(app);
  }

  /** Deployments of `app` (of every app when absent), newest first. */
  deployments(app?: string): Promise<DeploymentRecord[]> {
    return this.#catalog.deployments(app);
  }

  /** The deployment `id`, or `undefined` when there is none (or `id` is malformed). */
  deployment(id: string): Promise<DeploymentRecord | undefined> {
    return this.#catalog.deployment(id);
  }

  /**
   * The manifest of deployment `id` (cached: deployments are immutable).
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment
   */
  manifest(id: string): Promise<Manifest> {
    return this.#catalog.manifest(id);
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
    return readBundle(this.#store, id, deployment);
  }

  /**
   * The bytes of the asset (or bundle) with sha256 `hash`, checked; `undefined`
   * when the store has none (or `hash` is not a sha256 in hex).
   * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` when the stored bytes do not match
   */
  asset(hash: string): Promise<Uint8Array | undefined> {
    return readBlob(this.#store, hash);
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
        (e) =>
          e.deploymentId === id ||
          e.split?.some((s) => s.deploymentId === id) === true ||
          e.splitRules?.some((r) => r.split.some((s) => s.deploymentId === id)) === true,
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
    await this.#environments.forget(deployment.app, id);
    await this.#store.delete(manifestKey(id));
    this.#catalog.forget(id);
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
    return this.#environments.watch(onChange);
  }

  /**
   * Checks a batch of redirect rows of environment `env` of `app` (at most
   * `REDIRECT_BATCH_ROWS`) and stores it for {@link commitRedirects};
   * `firstRow` (1-based) numbers the rows in messages.
   * @throws InvalidOptionError naming the first bad row and what is wrong
   */
  stageRedirects(
    app: string,
    env: string,
    rows: unknown[],
    firstRow?: number,
  ): Promise<StagedRedirects> {
    return this.#redirects.stage(app, env, rows, firstRow);
  }

  /**
   * Makes the staged parts the redirect table of `env` (`replace`), or adds
   * them to it (`merge`), in one write: shields swap the whole table.
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown environment or part
   */
  commitRedirects(
    app: string,
    env: string,
    parts: string[],
    mode?: 'replace' | 'merge',
  ): Promise<RedirectTableRecord> {
    return this.#redirects.commit(app, env, parts, mode);
  }

  /** The redirect table of `env` (`table: null` when it has none) and a page of its rows. */
  redirects(app: string, env: string, offset?: number, limit?: number): Promise<RedirectTablePage> {
    return this.#redirects.list(app, env, offset, limit);
  }

  /** Removes the redirect table of `env`. */
  clearRedirects(app: string, env: string): Promise<{ removed: number }> {
    return this.#redirects.clear(app, env);
  }

  /** Calls `onChange` with every redirect table record, now and after every change. */
  watchRedirects(onChange: (tables: RedirectTableRecord[]) => void): {
    initial: Promise<void>;
    stop(): void;
  } {
    return this.#redirects.watch(onChange);
  }

  /** The rows of a redirect table record (the shield loads a table it is told about). */
  redirectRows(table: RedirectTableRecord): ReturnType<RedirectTables['rows']> {
    return this.#redirects.rows(table);
  }
}
