import type { LogFn } from '@flotilla/protocol';
import {
  FlotillaError,
  InvalidOptionError,
  nonEmptyString,
  positiveInt,
  required,
} from '@flotilla/protocol';
import { JetStreamApiCodes } from '@nats-io/jetstream';
import { type KV, Kvm, type KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/nats-core';
import { type ObjectStore, Objm } from '@nats-io/obj';
import {
  type BlobPutOptions,
  type BlobPutResult,
  type BlobSource,
  type ControlEntry,
  type ControlStore,
  type ControlWatch,
  type ControlWatchEvent,
  checkBlobName,
  checkKey,
  checkPrefix,
  observedStream,
} from './control-store.ts';
import { StoreConflictError } from './errors.ts';

/** Default KV bucket of the control plane's records. */
export const DEFAULT_CONTROL_BUCKET = 'flotilla_control';
/** Default Object Store bucket of bundles and assets. */
export const DEFAULT_BLOB_BUCKET = 'flotilla_blobs';

/** Options of {@link JetStreamControlStore.open}. */
export interface JetStreamControlStoreOptions {
  /**
   * Replicas of both buckets' streams (use 3 on a clustered JetStream).
   * @default 1
   */
  replicas?: number;
  /**
   * Versions kept per key in the KV bucket (for operators reading the history).
   * @default 5
   */
  history?: number;
  /**
   * KV bucket name.
   * @default 'flotilla_control'
   */
  bucket?: string;
  /**
   * Object Store bucket name.
   * @default 'flotilla_blobs'
   */
  blobBucket?: string;
  /**
   * How long a broken watch waits before it resumes, ms.
   * @default 500
   */
  watchRetryMs?: number;
  /** Structured log sink. @default no logging */
  log?: LogFn;
}

/** True when `err` is a JetStream compare-and-set conflict ("wrong last sequence"). */
function isCasConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === JetStreamApiCodes.StreamWrongLastSequence ||
    code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
  );
}

/**
 * Creates a bucket, or opens it when another process created it first:
 * processes starting together race to create it, and the loser's stream add
 * can fail (e.g. "subjects overlap") although the bucket now exists.
 */
async function createOrOpen<T>(create: () => Promise<T>, open: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    try {
      return await open();
    } catch {
      if (/permissions violation/i.test((err as Error).message)) {
        // A secured fleet's read-only role, started before the control service created the buckets.
        throw new FlotillaError(
          'FLOTILLA_ERR_FORBIDDEN',
          `the control plane's buckets do not exist yet and this credential may not create them (${(err as Error).message}): start the control service (flotilla start --role control) first`,
          { cause: err },
        );
      }
      throw err;
    }
  }
}

/**
 * A {@link ControlStore} in NATS JetStream, shared by every machine of the
 * fleet: records in the KV bucket `flotilla_control`, blobs in the Object
 * Store bucket `flotilla_blobs`. Works on nats-server 2.9 and later.
 *
 * @example
 * const nc = await connect({ servers: 'nats://nats:4222' });
 * const plane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
 */
export class JetStreamControlStore implements ControlStore {
  readonly #kv: KV;
  readonly #objects: ObjectStore;
  readonly #watchRetryMs: number;
  readonly #log: LogFn;

  private constructor(kv: KV, objects: ObjectStore, watchRetryMs: number, log: LogFn) {
    this.#kv = kv;
    this.#objects = objects;
    this.#watchRetryMs = watchRetryMs;
    this.#log = log;
  }

  /**
   * Opens the buckets, creating them when missing (two processes opening at
   * once both end up on the same buckets).
   *
   * @throws InvalidOptionError naming the bad option
   */
  static async open(
    connection: NatsConnection,
    options: JetStreamControlStoreOptions = {},
  ): Promise<JetStreamControlStore> {
    required('connection', connection);
    const replicas = positiveInt('replicas', options.replicas, 1);
    const history = positiveInt('history', options.history, 5);
    if (history > 64) {
      throw new InvalidOptionError('history', `must be at most 64, got ${history}`);
    }
    const bucket = nonEmptyString('bucket', options.bucket, DEFAULT_CONTROL_BUCKET);
    const blobBucket = nonEmptyString('blobBucket', options.blobBucket, DEFAULT_BLOB_BUCKET);
    const watchRetryMs = positiveInt('watchRetryMs', options.watchRetryMs, 500);
    if (options.log !== undefined && typeof options.log !== 'function') {
      throw new InvalidOptionError('log', 'must be a function');
    }
    const log = options.log ?? (() => {});
    const kvm = new Kvm(connection);
    const objm = new Objm(connection);
    const [kv, objects] = await Promise.all([
      createOrOpen(
        () =>
          kvm.create(bucket, {
            history,
            replicas,
            // Reads from the stream's leader: with replicas, a direct get may
            // be answered by a follower that has not yet applied a write just
            // acknowledged (publish, then promote at once: "does not exist").
            // A bucket opened (not created) here reads from the leader too.
            allow_direct: false,
            description: 'Flotilla control plane (deployment.*, manifest.*, env.*)',
          }),
        () => kvm.open(bucket),
      ),
      createOrOpen(
        () =>
          objm.create(blobBucket, {
            replicas,
            description: 'Flotilla bundles and assets (sha256-<hex>)',
          }),
        () => objm.open(blobBucket),
      ),
    ]);
    return new JetStreamControlStore(kv, objects, watchRetryMs, log);
  }

  async get(key: string): Promise<ControlEntry | undefined> {
    checkKey(key);
    const entry = await this.#kv.get(key);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    return { key, value: entry.value, revision: entry.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    try {
      return await this.#kv.create(key, value);
    } catch (err) {
      if (isCasConflict(err)) {
        throw new StoreConflictError(key, `key ${key} already exists`, { cause: err });
      }
      throw err;
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKey(key);
    try {
      return await this.#kv.update(key, value, revision);
    } catch (err) {
      if (isCasConflict(err)) {
        throw new StoreConflictError(key, `key ${key} is no longer at revision ${revision}`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    return this.#kv.put(key, value);
  }

  async delete(key: string, options: { revision?: number } = {}): Promise<void> {
    checkKey(key);
    try {
      if (options.revision === undefined) {
        // A delete marker on a missing key is harmless but noisy: skip it.
        if ((await this.#kv.get(key))?.operation !== 'PUT') return;
        await this.#kv.delete(key);
      } else {
        await this.#kv.delete(key, { previousSeq: options.revision });
      }
    } catch (err) {
      if (isCasConflict(err)) {
        throw new StoreConflictError(
          key,
          `key ${key} is no longer at revision ${options.revision}`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
  }

  async keys(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    const iter = await this.#kv.keys(prefix === '' ? '>' : `${prefix}>`);
    const keys: string[] = [];
    for await (const key of iter) keys.push(key);
    return [...new Set(keys)].sort();
  }

  watch(prefix: string, onEvent: (event: ControlWatchEvent) => void): ControlWatch {
    checkPrefix(prefix);
    const filter = prefix === '' ? '>' : `${prefix}>`;
    let stopped = false;
    let iter: QueuedIterator<KvWatchEntry> | undefined;
    let retry: NodeJS.Timeout | undefined;
    /** Highest revision delivered: a resumed watch starts after it. */
    let lastRevision = 0;
    let settle: { resolve: () => void; reject: (err: unknown) => void } | undefined;
    const initial = new Promise<void>((resolve, reject) => {
      settle = { resolve, reject };
    });
    // Nobody may await `initial`; a rejection must not become unhandled.
    initial.catch(() => {});
    const done = (err?: unknown): void => {
      const s = settle;
      settle = undefined;
      if (s === undefined) return;
      if (err === undefined) s.resolve();
      else s.reject(err);
    };

    const deliver = (entry: KvWatchEntry): void => {
      if (stopped || entry.revision <= lastRevision) return;
      lastRevision = entry.revision;
      try {
        onEvent({
          key: entry.key,
          value: entry.operation === 'PUT' ? entry.value : undefined,
          revision: entry.revision,
        });
      } catch (err) {
        this.#log({ msg: 'control watch listener failed', prefix, error: String(err) });
      }
    };

    const run = async (): Promise<void> => {
      const resuming = lastRevision > 0;
      const it = await this.#kv.watch({
        key: filter,
        ...(resuming ? { resumeFromRevision: lastRevision + 1 } : {}),
      });
      if (stopped) {
        it.stop();
        return;
      }
      iter = it;
      if (settle !== undefined) {
        // The watch first replays the latest value of every key; the entry
        // that completes the replay (and every later one) has isUpdate set.
        // With nothing to replay, nothing marks the end: ask for the keys.
        const present = await this.keys(prefix);
        if (present.length === 0) done();
      }
      for await (const entry of it) {
        deliver(entry);
        if (entry.isUpdate) done();
      }
    };

    const loop = (): void => {
      run().then(
        () => {
          if (stopped) return;
          this.#log({ msg: 'control watch ended, resuming', prefix, lastRevision });
          retry = setTimeout(loop, this.#watchRetryMs);
        },
        (err: unknown) => {
          if (stopped) return;
          if (settle !== undefined && lastRevision === 0) {
            // Could not even start: report it to whoever waits for the snapshot.
            stopped = true;
            iter?.stop();
            done(err);
            return;
          }
          this.#log({
            msg: 'control watch failed, resuming',
            prefix,
            lastRevision,
            error: (err as Error)?.message ?? String(err),
          });
          retry = setTimeout(loop, this.#watchRetryMs);
        },
      );
    };
    loop();

    return {
      initial,
      stop: () => {
        if (stopped) return;
        stopped = true;
        clearTimeout(retry);
        iter?.stop();
        done();
      },
    };
  }

  async blobPut(
    name: string,
    source: BlobSource,
    options: BlobPutOptions = {},
  ): Promise<BlobPutResult> {
    checkBlobName(name);
    const existing = await this.#objects.info(name);
    if (existing !== null && !existing.deleted) {
      if (!(source instanceof Uint8Array)) await source.cancel().catch(() => {});
      return { created: false, bytes: existing.size };
    }
    try {
      // Create-only: the meta entry of the object must still be what we saw
      // (none, or the delete marker), so a concurrent upload of the same
      // name never replaces chunks a reader may be streaming.
      const info = await this.#objects.put({ name }, observedStream(source, options), {
        previousRevision: existing?.revision ?? 0,
      });
      return { created: true, bytes: info.size };
    } catch (err) {
      if (isCasConflict(err)) {
        const now = await this.#objects.info(name);
        if (now !== null && !now.deleted) return { created: false, bytes: now.size };
      }
      throw err;
    }
  }

  async blobGet(name: string): Promise<Uint8Array | undefined> {
    checkBlobName(name);
    return (await this.#objects.getBlob(name)) ?? undefined;
  }

  async blobHas(name: string): Promise<boolean> {
    checkBlobName(name);
    const info = await this.#objects.info(name);
    return info !== null && !info.deleted;
  }

  async blobDelete(name: string): Promise<boolean> {
    checkBlobName(name);
    if (!(await this.blobHas(name))) return false;
    await this.#objects.delete(name);
    return true;
  }
}
