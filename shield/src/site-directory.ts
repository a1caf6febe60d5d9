import type { Manifest, ManifestAsset } from '@flotilla/manifest';
import {
  environmentHost,
  FlotillaError,
  isSubjectToken,
  type LogFn,
  nonEmptyString,
  required,
  type SplitRule,
} from '@flotilla/protocol';
import { hostOnly } from './host.ts';
import type { SplitEntry } from './split.ts';

/** What the shield needs to know about one environment (a control-plane record). */
export interface SiteEnvironment {
  app: string;
  env: string;
  deploymentId: string;
  /** Earlier deployments, newest first: their hashed assets stay served. */
  history: string[];
  primaryRegion?: string;
  secondaryRegion?: string;
  /** A split test: deployments (the served one among them) and their share of new visitors. */
  split?: SplitEntry[];
  /** Split-test rules, in order (the first whose criteria match decides). */
  splitRules?: SplitRule[];
  /** Revision of the environment's record: changes with every promote or configure. */
  revision?: number;
  /** Backend name → origin replacing the manifest's default (`flotilla env set --backend`). */
  backends?: Record<string, string>;
}

/**
 * Where the shield reads environments, manifests and assets: the control
 * plane (`@flotilla/deploy`'s `ControlPlane` has this shape).
 */
export interface SiteSource {
  watchEnvironments(onChange: (envs: SiteEnvironment[]) => void): {
    initial: Promise<void>;
    stop(): void;
  };
  manifest(deploymentId: string): Promise<Manifest>;
  asset(hash: string): Promise<Uint8Array | undefined>;
  /**
   * The deployment's record, undefined once deleted: preview hosts stop
   * serving a deleted deployment (checked at most every few seconds).
   */
  deployment?(deploymentId: string): Promise<unknown>;
}

/** How long a preview host trusts that its deployment still exists. */
const PREVIEW_RECHECK_MS = 2000;

/** Options of {@link SiteDirectory}. */
export interface SiteDirectoryOptions {
  source: SiteSource;
  /**
   * Domain of environment hosts: `<app>.<domain>` serves `production`,
   * `<env>.<app>.<domain>` any other environment.
   * @default 'localhost'
   */
  domain?: string;
  /**
   * Domain of preview hosts: `<deployment-id>.<previewDomain>` serves exactly
   * that deployment, for as long as it exists.
   * @default 'preview.localhost'
   */
  previewDomain?: string;
  /**
   * Bytes of asset content kept in memory.
   * @default 64 MiB
   */
  assetCacheBytes?: number;
  /** Structured log sink. @default discard */
  log?: LogFn;
}

/** Where one request goes. */
export interface SiteTarget {
  app: string;
  /** The environment, absent on a preview host. */
  environment: string | undefined;
  deploymentId: string;
  manifest: Manifest;
  primaryRegion: string | undefined;
  secondaryRegion: string | undefined;
  /** Path the app sees (with query). */
  path: string;
  /** Path prefix stripped (`/<app>`), `''` when routed by host. */
  prefix: string;
  /** The environment's split test, if any (never on a preview host). */
  split: SplitEntry[] | undefined;
  /** The environment's split-test rules, if any (never on a preview host). */
  splitRules: SplitRule[] | undefined;
  /** Manifests of the split's (and the rules') deployments, by id. */
  splitManifests: ReadonlyMap<string, Manifest>;
  /**
   * The environment's cache namespace: a new one with every change of the
   * environment (promote, variables, backends, regions, split), so a cached
   * page never outlives the settings it was rendered with.
   */
  cacheNamespace: string;
  /**
   * The environment's backend origins over the manifests' defaults (name →
   * origin), for the `proxy()` routes the shield answers itself; `{}` on a
   * preview host.
   */
  backendOverrides: Readonly<Record<string, string>>;
}

/** A target before the request's path is known. */
type Resolved = Omit<SiteTarget, 'path' | 'prefix'>;

const NO_MANIFESTS: ReadonlyMap<string, Manifest> = new Map();

/** One consistent view: swapped whole, so a request never sees half a switch. */
interface Snapshot {
  byHost: Map<string, Resolved>;
  byPrefix: Map<string, Resolved>;
  /** App → hashed asset path → asset, over current and earlier deployments. */
  permanent: Map<string, Map<string, ManifestAsset>>;
  environments: SiteEnvironment[];
}

const PRODUCTION = 'production';

function domainOption(name: string, value: string | undefined, fallback: string): string {
  const domain = nonEmptyString(name, value, fallback).toLowerCase();
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(domain)) {
    throw new FlotillaError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `option "${name}": "${value}" is not a domain name`,
    );
  }
  return domain;
}

/**
 * The shield's map from hosts to deployments, kept current from the control
 * plane by watch (a promote is visible as soon as its manifest is loaded).
 * Manifests are immutable, so each is read once.
 *
 * Hosts: `<app>.<domain>` → the app's `production` environment,
 * `<env>.<app>.<domain>` → environment `env`, `<deployment-id>.<previewDomain>`
 * → that deployment (preview), and on any other host the path prefix
 * `/<app>/` → `production`.
 */
export class SiteDirectory {
  readonly domain: string;
  readonly previewDomain: string;
  readonly #source: SiteSource;
  readonly #log: LogFn;
  readonly #manifests = new Map<string, Promise<Manifest>>();
  /** Preview deployments: when their existence was last confirmed. */
  readonly #previewChecked = new Map<string, number>();
  readonly #assets = new Map<string, Uint8Array>();
  readonly #assetBudget: number;
  #assetBytes = 0;
  #snapshot: Snapshot = {
    byHost: new Map(),
    byPrefix: new Map(),
    permanent: new Map(),
    environments: [],
  };
  #generation = 0;
  #watch: { initial: Promise<void>; stop(): void } | undefined;
  #applied: Promise<void> = Promise.resolve();

  constructor(options: SiteDirectoryOptions) {
    this.#source = required('source', options?.source);
    this.domain = domainOption('domain', options.domain, 'localhost');
    this.previewDomain = domainOption('previewDomain', options.previewDomain, 'preview.localhost');
    this.#assetBudget = options.assetCacheBytes ?? 64 * 1024 * 1024;
    this.#log = options.log ?? (() => {});
  }

  /** Starts watching; resolves once the current environments are loaded. */
  async start(): Promise<void> {
    if (this.#watch) return this.#watch.initial.then(() => this.#applied);
    this.#watch = this.#source.watchEnvironments((envs) => {
      const generation = ++this.#generation;
      this.#applied = this.#build(envs).then(
        (snapshot) => {
          // An older build finishing late never replaces a newer one.
          if (generation === this.#generation) this.#snapshot = snapshot;
        },
        (err) => this.#log({ msg: 'environment update failed', error: (err as Error).message }),
      );
    });
    await this.#watch.initial;
    await this.#applied;
  }

  /** Stops watching. */
  stop(): void {
    this.#watch?.stop();
  }

  /** Identity of the current snapshot: a new object whenever the environments change. */
  get version(): object {
    return this.#snapshot;
  }

  /** The environments as last applied. */
  environments(): SiteEnvironment[] {
    return this.#snapshot.environments;
  }

  /** True for a host (lower case, no port) of an environment or a preview. */
  servesHost(host: string): boolean {
    return this.#snapshot.byHost.has(host) || host.endsWith(`.${this.previewDomain}`);
  }

  /** The production host of `app` and the host of `env`. */
  hostOf(app: string, env = PRODUCTION): string {
    return environmentHost(app, env, this.domain);
  }

  /** The preview host of a deployment. */
  previewHostOf(deploymentId: string): string {
    return `${deploymentId}.${this.previewDomain}`;
  }

  #loadManifest(id: string): Promise<Manifest> {
    let p = this.#manifests.get(id);
    if (!p) {
      p = this.#source.manifest(id);
      this.#manifests.set(id, p);
      p.catch(() => this.#manifests.delete(id));
    }
    return p;
  }

  async #build(envs: SiteEnvironment[]): Promise<Snapshot> {
    const byHost = new Map<string, Resolved>();
    const byPrefix = new Map<string, Resolved>();
    const permanent = new Map<string, Map<string, ManifestAsset>>();
    await Promise.all(
      envs.map(async (e) => {
        const manifest = await this.#loadManifest(e.deploymentId);
        const split = e.split && e.split.length > 0 ? e.split : undefined;
        const splitRules = e.splitRules && e.splitRules.length > 0 ? e.splitRules : undefined;
        const splitManifests = new Map<string, Manifest>();
        const targets = [...(split ?? []), ...(splitRules ?? []).flatMap((r) => r.split)];
        // With rules but no percentage split, unmatched visitors get the environment's deployment.
        if (splitRules) targets.push({ deploymentId: e.deploymentId, percent: 100 });
        for (const entry of targets) {
          splitManifests.set(entry.deploymentId, await this.#loadManifest(entry.deploymentId));
        }
        const resolved: Resolved = {
          app: e.app,
          environment: e.env,
          deploymentId: e.deploymentId,
          manifest,
          primaryRegion: e.primaryRegion,
          secondaryRegion: e.secondaryRegion,
          split,
          splitRules,
          splitManifests,
          cacheNamespace: `${e.env}#${e.revision ?? 0}`,
          backendOverrides: { ...(e.backends ?? {}) },
        };
        byHost.set(this.hostOf(e.app, e.env), resolved);
        if (e.env === PRODUCTION) byPrefix.set(e.app, resolved);
        // Earlier deployments' hashed assets stay served (open tabs keep working).
        const ids = [e.deploymentId, ...targets.map((x) => x.deploymentId), ...e.history];
        const manifests = await Promise.all(
          ids.map((id) => this.#loadManifest(id).catch(() => undefined)),
        );
        let index = permanent.get(e.app);
        if (!index) {
          index = new Map();
          permanent.set(e.app, index);
        }
        for (const m of manifests) {
          for (const a of m?.assets ?? [])
            if (a.permanent && !index.has(a.path)) index.set(a.path, a);
        }
      }),
    );
    return { byHost, byPrefix, permanent, environments: envs };
  }

  /**
   * Where a request goes, or undefined when no app serves it.
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for a preview host of an unknown deployment.
   */
  async resolve(hostHeader: string, rawPath: string): Promise<SiteTarget | undefined> {
    const snapshot = this.#snapshot;
    const host = hostOnly(hostHeader);
    const byHost = snapshot.byHost.get(host);
    if (byHost) return { ...byHost, path: rawPath, prefix: '' };
    const previewSuffix = `.${this.previewDomain}`;
    if (host.endsWith(previewSuffix)) {
      const deploymentId = host.slice(0, -previewSuffix.length);
      if (!isSubjectToken(deploymentId)) return undefined;
      let manifest: Manifest;
      try {
        await this.#checkStillExists(deploymentId);
        manifest = await this.#loadManifest(deploymentId);
      } catch (err) {
        throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `no deployment ${deploymentId}`, {
          cause: err,
        });
      }
      return {
        app: manifest.name,
        environment: undefined,
        deploymentId,
        manifest,
        primaryRegion: undefined,
        secondaryRegion: undefined,
        path: rawPath,
        prefix: '',
        split: undefined,
        splitRules: undefined,
        splitManifests: NO_MANIFESTS,
        cacheNamespace: `preview@${deploymentId}`,
        backendOverrides: {},
      };
    }
    const m = /^\/([^/?#]+)(.*)$/.exec(rawPath);
    const byPrefix = m ? snapshot.byPrefix.get(m[1] as string) : undefined;
    if (!m || !byPrefix) return undefined;
    const rest = m[2] ?? '';
    const path = rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
    return { ...byPrefix, path, prefix: `/${byPrefix.app}` };
  }

  async #checkStillExists(deploymentId: string): Promise<void> {
    const source = this.#source;
    if (!source.deployment) return;
    const checked = this.#previewChecked.get(deploymentId);
    if (checked !== undefined && Date.now() - checked < PREVIEW_RECHECK_MS) return;
    if ((await source.deployment(deploymentId)) === undefined) {
      this.#previewChecked.delete(deploymentId);
      this.#manifests.delete(deploymentId);
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `no deployment ${deploymentId}`);
    }
    if (this.#previewChecked.size > 10_000) this.#previewChecked.clear();
    this.#previewChecked.set(deploymentId, Date.now());
  }

  /**
   * The static asset a GET for `path` (no query) serves on `target`: one of
   * its deployment's assets, or a hashed asset of an earlier deployment of
   * the app.
   */
  assetFor(target: SiteTarget, path: string): ManifestAsset | undefined {
    const own = target.manifest.assets.find((a) => a.path === path);
    if (own) return own;
    return this.#snapshot.permanent.get(target.app)?.get(path);
  }

  /** The bytes of an asset (kept in a bounded memory cache). */
  async assetBytes(asset: ManifestAsset): Promise<Uint8Array | undefined> {
    const cached = this.#assets.get(asset.hash);
    if (cached) {
      this.#assets.delete(asset.hash);
      this.#assets.set(asset.hash, cached);
      return cached;
    }
    const bytes = await this.#source.asset(asset.hash);
    if (!bytes) return undefined;
    if (bytes.byteLength <= this.#assetBudget / 4) {
      this.#assets.set(asset.hash, bytes);
      this.#assetBytes += bytes.byteLength;
      for (const [hash, b] of this.#assets) {
        if (this.#assetBytes <= this.#assetBudget) break;
        this.#assets.delete(hash);
        this.#assetBytes -= b.byteLength;
      }
    }
    return bytes;
  }
}
