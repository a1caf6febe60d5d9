/**
 * Publishing a build: the manifest checked, every file hashed against it,
 * the blobs the store lacks uploaded (content-addressed), then the
 * manifest and deployment records written (the commit point), then, if
 * asked, a promote. A publish that fails or is aborted before its commit
 * leaves no deployment; the same content published twice is the same
 * deployment.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { assetFileSegments, type Manifest } from '@flotilla/manifest';
import type { LogFn } from '@flotilla/protocol';
import {
  FlotillaError,
  InvalidOptionError,
  MAX_BUNDLE_BYTES,
  nonEmptyString,
  required,
} from '@flotilla/protocol';
import { blobName } from './blobs.ts';
import { hashFile, verifiedFileStream } from './build-files.ts';
import type { Catalog } from './catalog.ts';
import type { ControlStore } from './control-store.ts';
import { checkToken as token } from './environment-patch.ts';
import { CONFLICT_CODE, StoreConflictError } from './errors.ts';
import { checkManifest } from './manifest-check.ts';
import {
  type DeploymentRecord,
  decodeJson,
  deploymentIdOf,
  deploymentKey,
  type EnvironmentRecord,
  encodeJson,
  manifestKey,
} from './records.ts';

/** A build to publish: a directory holding `bundle.js`, `manifest.json` and `assets/`. */
export interface BuildOutput {
  /**
   * The build directory. Each asset of the manifest is read from
   * `<dir>/assets<asset.path>` (e.g. `/assets/app.css` → `<dir>/assets/assets/app.css`;
   * the root page `/` in `<dir>/assets/#root`: `assetFileSegments` of `@flotilla/manifest`).
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

/** `bytes` as MiB with one decimal. */
function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Refuses a bundle over the cap workers load ({@link MAX_BUNDLE_BYTES}, or
 * the smaller `limits.bundleBytes` the manifest asks for) before anything is
 * hashed or uploaded. Both the size the manifest declares and the file's own
 * size count: a manifest that understates it is caught here too.
 */
export async function checkBundleCap(manifest: Manifest, bundlePath: string): Promise<void> {
  const cap = Math.min(MAX_BUNDLE_BYTES, manifest.limits?.bundleBytes ?? MAX_BUNDLE_BYTES);
  const onDisk = await stat(bundlePath).then(
    (s) => s.size,
    () => 0,
  );
  const bytes = Math.max(manifest.bundleBytes, onDisk);
  if (bytes > cap) {
    const whose =
      cap < MAX_BUNDLE_BYTES ? 'the limits.bundleBytes of its manifest' : 'the bundle cap';
    throw new FlotillaError(
      'FLOTILLA_ERR_BUNDLE',
      `bundle.js of ${manifest.name} is ${bytes} bytes (${mib(bytes)}), over ${whose} of ${cap} bytes (${mib(cap)}); nothing was uploaded`,
    );
  }
}

/** What a {@link Publisher} works with. */
export interface PublisherOptions {
  store: ControlStore;
  catalog: Catalog;
  /** Blobs uploaded at once. */
  uploadConcurrency: number;
  log: LogFn;
  /** Promotes a published deployment (`PublishOptions.env`). */
  promote: (deploymentId: string, env: string) => Promise<EnvironmentRecord>;
  /** The preview host of a deployment. */
  previewHost: (deploymentId: string) => string;
}

/** Publishes builds as immutable, content-addressed deployments. */
export class Publisher {
  /** The control plane it publishes into: its store, catalog, settings and callbacks. */
  readonly #plane: PublisherOptions;

  constructor(options: PublisherOptions) {
    this.#plane = options;
  }

  /** See {@link ControlPlane.publish}. */
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
        this.#plane.log({ msg: 'publish progress listener failed', error: (err as Error).message });
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
    await checkBundleCap(manifest, join(dir, 'bundle.js'));

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
        path: join(dir, 'assets', ...assetFileSegments(a.path)),
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

    let deployment = await this.#plane.catalog.deployment(id);
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
        prerenderPaths: manifest.prerender?.length ?? 0,
        createdAt: new Date().toISOString(),
        ...(env === undefined ? {} : { publishedFor: env }),
      };
      try {
        await this.#plane.store.create(deploymentKey(id), encodeJson(record));
        deployment = record;
        created = true;
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
        // A concurrent publish of the same build committed first.
        deployment = await this.#plane.catalog.deployment(id);
        if (deployment === undefined) throw err;
        if (deployment.contentHash !== manifest.contentHash) throw this.#collision(id, deployment);
      }
      progress({ phase: 'commit', done: 2, total: 2 });
    }
    this.#plane.log({ msg: created ? 'deployment published' : 'deployment already published', id });

    let environment: EnvironmentRecord | undefined;
    if (env !== undefined) {
      progress({ phase: 'promote', done: 0, total: 1 });
      environment = await this.#plane.promote(id, env);
      progress({ phase: 'promote', done: 1, total: 1 });
    }
    return {
      deployment,
      created,
      previewHost: this.#plane.previewHost(id),
      ...(environment === undefined ? {} : { environment }),
    };
  }

  #collision(id: string, existing: DeploymentRecord): FlotillaError {
    return new FlotillaError(
      CONFLICT_CODE,
      `deployment id ${id} is taken by content ${existing.contentHash}; change the build to publish it`,
    );
  }

  async #commitManifest(id: string, manifest: Manifest): Promise<void> {
    const key = manifestKey(id);
    try {
      await this.#plane.store.create(key, encodeJson(manifest));
    } catch (err) {
      if (!(err instanceof StoreConflictError)) throw err;
      // Same content published concurrently (or an interrupted earlier publish): fine if identical.
      const existing = await this.#plane.store.get(key);
      const stored = existing && (decodeJson(key, existing.value) as Partial<Manifest>);
      if (stored === undefined) {
        await this.#plane.store.create(key, encodeJson(manifest));
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
      if (await this.#plane.store.blobHas(blobName(file.hash))) present.add(file.hash);
    });
    const missing = [...unique.values()].filter((f) => !present.has(f.hash));
    const total = missing.reduce((sum, f) => sum + f.bytes, 0);
    let done = 0;
    progress({ phase: 'upload', done, total });
    await eachLimit(missing, this.#plane.uploadConcurrency, async (file) => {
      signal?.throwIfAborted();
      let sent = 0;
      await this.#plane.store.blobPut(
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
