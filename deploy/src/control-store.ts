import { InvalidOptionError } from '@flotilla/protocol';

/**
 * The storage the control plane runs on: a small key-value store with
 * compare-and-set writes and push watches, plus a blob store for bundles and
 * assets. {@link JetStreamControlStore} keeps it in NATS JetStream (shared by
 * every machine of the fleet); {@link MemoryControlStore} keeps it in the
 * process (the embedded `flotilla start` / `flotilla dev`).
 *
 * Keys are dot-separated tokens of `A-Z a-z 0-9 - _ =` (NATS KV keys without
 * wildcards). Revisions grow with every write to the store, so a revision
 * identifies one version of one key.
 *
 * @module
 */

/** The latest value of a key. */
export interface ControlEntry {
  readonly key: string;
  readonly value: Uint8Array;
  /** Revision of this version of the key (compare-and-set token). */
  readonly revision: number;
}

/** One change seen by {@link ControlStore.watch}. */
export interface ControlWatchEvent {
  readonly key: string;
  /** The new value; `undefined` when the key was deleted. */
  readonly value: Uint8Array | undefined;
  readonly revision: number;
}

/** A running watch. */
export interface ControlWatch {
  /**
   * Resolves once the current values under the prefix have been delivered
   * (the watch is live from then on). Rejects when the watch cannot start.
   */
  readonly initial: Promise<void>;
  /** Stops the watch; no event is delivered afterwards. Idempotent. */
  stop(): void;
}

/** Bytes of a blob, whole or streamed. */
export type BlobSource = Uint8Array | ReadableStream<Uint8Array>;

/** Options of {@link ControlStore.blobPut}. */
export interface BlobPutOptions {
  /**
   * Aborts the upload: the blob is not stored (a half-written blob is never
   * visible) and `blobPut` rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Called with the bytes consumed so far, as the upload progresses. */
  onProgress?: (bytes: number) => void;
}

/** What {@link ControlStore.blobPut} did. */
export interface BlobPutResult {
  /** False when a blob of that name already existed (it was left as it was). */
  created: boolean;
  /** Size of the stored blob. */
  bytes: number;
}

/**
 * Key-value and blob storage of the control plane. Every write of a key is
 * atomic; `create` and `update` are compare-and-set.
 */
export interface ControlStore {
  /** The latest value of `key`; `undefined` when it was never written or is deleted. */
  get(key: string): Promise<ControlEntry | undefined>;
  /**
   * Writes `key` only when it does not exist (or is deleted).
   * @returns the new revision
   * @throws StoreConflictError when the key exists
   */
  create(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes `key` only when its latest revision is `revision`.
   * @returns the new revision
   * @throws StoreConflictError when the key moved on (or was deleted)
   */
  update(key: string, value: Uint8Array, revision: number): Promise<number>;
  /** Writes `key` unconditionally. @returns the new revision */
  put(key: string, value: Uint8Array): Promise<number>;
  /**
   * Deletes `key` (a no-op when it does not exist), only when its latest
   * revision is `revision` if given.
   * @throws StoreConflictError when `revision` is given and the key moved on
   */
  delete(key: string, options?: { revision?: number }): Promise<void>;
  /**
   * Keys (not deleted) starting with `prefix`, sorted. `prefix` is `''`
   * (every key) or ends with `.` (e.g. `env.shop.`).
   */
  keys(prefix: string): Promise<string[]>;
  /**
   * Pushes the current value of every key under `prefix` (`''` or ending
   * with `.`), then every later change, to `onEvent`, in revision order.
   */
  watch(prefix: string, onEvent: (event: ControlWatchEvent) => void): ControlWatch;
  /**
   * Stores a blob under `name` unless one of that name exists (blobs are
   * meant to be content-addressed: same name, same bytes). A blob appears
   * whole or not at all: a failing or aborted source stores nothing.
   */
  blobPut(name: string, source: BlobSource, options?: BlobPutOptions): Promise<BlobPutResult>;
  /** The bytes of blob `name`; `undefined` when there is none. */
  blobGet(name: string): Promise<Uint8Array | undefined>;
  /** Whether blob `name` exists. */
  blobHas(name: string): Promise<boolean>;
  /** Deletes blob `name`. @returns whether it existed */
  blobDelete(name: string): Promise<boolean>;
}

const KEY_TOKEN = /^[-\w=]+$/;

/** Throws unless `key` is a valid control-store key (dot-separated tokens, no wildcards). */
export function checkKey(key: string): string {
  if (typeof key !== 'string' || key === '' || !key.split('.').every((t) => KEY_TOKEN.test(t))) {
    throw new InvalidOptionError('key', `must be dot-separated tokens, got ${JSON.stringify(key)}`);
  }
  return key;
}

/** Throws unless `prefix` is `''` or dot-separated tokens ending with `.`. */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  if (typeof prefix !== 'string' || !prefix.endsWith('.')) {
    throw new InvalidOptionError(
      'prefix',
      `must be '' or end with ".", got ${JSON.stringify(prefix)}`,
    );
  }
  checkKey(prefix.slice(0, -1));
  return prefix;
}

/** Throws unless `name` is a usable blob name (1–255 of `A-Z a-z 0-9 - _ . =`). */
export function checkBlobName(name: string): string {
  if (typeof name !== 'string' || !/^[-\w.=]{1,255}$/.test(name)) {
    throw new InvalidOptionError('name', `must be a blob name, got ${JSON.stringify(name)}`);
  }
  return name;
}

/** The reason an aborted `signal` carries, as an Error. */
export function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException(
    reason === undefined ? 'This operation was aborted' : String(reason),
    'AbortError',
  );
}

const SLICE_BYTES = 128 * 1024;

/**
 * Wraps `source` into a stream that reports progress and fails when `signal`
 * aborts (the store then discards what it received).
 */
export function observedStream(
  source: BlobSource,
  options: BlobPutOptions,
): ReadableStream<Uint8Array> {
  const { signal, onProgress } = options;
  const whole = source instanceof Uint8Array ? source : undefined;
  const reader = source instanceof Uint8Array ? undefined : source.getReader();
  let bytes = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (signal?.aborted) {
        await reader?.cancel(signal.reason).catch(() => {});
        controller.error(abortReason(signal));
        return;
      }
      let chunk: Uint8Array | undefined;
      if (whole !== undefined) {
        // Bytes given whole are handed over in slices, so progress moves.
        chunk = bytes < whole.byteLength ? whole.subarray(bytes, bytes + SLICE_BYTES) : undefined;
      } else if (reader !== undefined) {
        const next = await reader.read();
        chunk = next.done ? undefined : next.value;
      }
      if (signal?.aborted) {
        await reader?.cancel(signal.reason).catch(() => {});
        controller.error(abortReason(signal));
        return;
      }
      if (chunk === undefined) {
        controller.close();
        return;
      }
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
      onProgress?.(bytes);
    },
    async cancel(reason) {
      await reader?.cancel(reason).catch(() => {});
    },
  });
}
