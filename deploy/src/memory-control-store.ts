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

interface Slot {
  value: Uint8Array | undefined;
  revision: number;
}

/**
 * A {@link ControlStore} held in this process: what the embedded fleet
 * (`flotilla start` on one machine, `flotilla dev`) runs on. Same semantics as
 * {@link JetStreamControlStore}: one revision counter for the whole store,
 * compare-and-set conflicts, watches that deliver the current values and
 * then every change (asynchronously, in revision order), blobs that appear
 * whole or not at all. Values are copied in and out.
 *
 * @example
 * const plane = new ControlPlane({ store: new MemoryControlStore() });
 */
export class MemoryControlStore implements ControlStore {
  readonly #slots = new Map<string, Slot>();
  readonly #blobs = new Map<string, Uint8Array>();
  readonly #watchers = new Set<{ prefix: string; push: (e: ControlWatchEvent) => void }>();
  #revision = 0;

  async get(key: string): Promise<ControlEntry | undefined> {
    checkKey(key);
    const slot = this.#slots.get(key);
    if (slot?.value === undefined) return undefined;
    return { key, value: slot.value.slice(), revision: slot.revision };
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    if (this.#slots.get(key)?.value !== undefined) {
      throw new StoreConflictError(key, `key ${key} already exists`);
    }
    return this.#write(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    checkKey(key);
    const slot = this.#slots.get(key);
    if (slot?.value === undefined || slot.revision !== revision) {
      throw new StoreConflictError(
        key,
        `key ${key} is at revision ${slot?.value === undefined ? 'none' : slot.revision}, not ${revision}`,
      );
    }
    return this.#write(key, value);
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    checkKey(key);
    return this.#write(key, value);
  }

  async delete(key: string, options: { revision?: number } = {}): Promise<void> {
    checkKey(key);
    const slot = this.#slots.get(key);
    if (options.revision !== undefined && slot?.revision !== options.revision) {
      throw new StoreConflictError(
        key,
        `key ${key} is at revision ${slot?.revision ?? 'none'}, not ${options.revision}`,
      );
    }
    if (slot?.value === undefined) return;
    this.#write(key, undefined);
  }

  async keys(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    return [...this.#slots]
      .filter(([key, slot]) => slot.value !== undefined && key.startsWith(prefix))
      .map(([key]) => key)
      .sort();
  }

  watch(prefix: string, onEvent: (event: ControlWatchEvent) => void): ControlWatch {
    checkPrefix(prefix);
    let stopped = false;
    // Events are queued and delivered from a microtask, like a network watch.
    const queue: ControlWatchEvent[] = [];
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      while (queue.length > 0 && !stopped) {
        try {
          onEvent(queue.shift() as ControlWatchEvent);
        } catch {
          // A failing listener must not stop the watch (as with JetStream).
        }
      }
    };
    const push = (event: ControlWatchEvent): void => {
      if (stopped) return;
      queue.push(event);
      if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    };
    const watcher = { prefix, push };
    for (const [key, slot] of [...this.#slots].sort((a, b) => a[1].revision - b[1].revision)) {
      if (slot.value !== undefined && key.startsWith(prefix)) {
        push({ key, value: slot.value.slice(), revision: slot.revision });
      }
    }
    this.#watchers.add(watcher);
    const initial = new Promise<void>((resolve) => queueMicrotask(() => queueMicrotask(resolve)));
    return {
      initial,
      stop: () => {
        stopped = true;
        this.#watchers.delete(watcher);
      },
    };
  }

  async blobPut(
    name: string,
    source: BlobSource,
    options: BlobPutOptions = {},
  ): Promise<BlobPutResult> {
    checkBlobName(name);
    const existing = this.#blobs.get(name);
    if (existing !== undefined) {
      if (!(source instanceof Uint8Array)) await source.cancel().catch(() => {});
      return { created: false, bytes: existing.byteLength };
    }
    const parts: Uint8Array[] = [];
    let bytes = 0;
    const reader = observedStream(source, options).getReader();
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      parts.push(next.value.slice());
      bytes += next.value.byteLength;
    }
    const data = new Uint8Array(bytes);
    let offset = 0;
    for (const part of parts) {
      data.set(part, offset);
      offset += part.byteLength;
    }
    // A concurrent put of the same (content-addressed) name may have won meanwhile.
    const raced = this.#blobs.get(name);
    if (raced !== undefined) return { created: false, bytes: raced.byteLength };
    this.#blobs.set(name, data);
    return { created: true, bytes };
  }

  async blobGet(name: string): Promise<Uint8Array | undefined> {
    checkBlobName(name);
    return this.#blobs.get(name)?.slice();
  }

  async blobHas(name: string): Promise<boolean> {
    checkBlobName(name);
    return this.#blobs.has(name);
  }

  async blobDelete(name: string): Promise<boolean> {
    checkBlobName(name);
    return this.#blobs.delete(name);
  }

  #write(key: string, value: Uint8Array | undefined): number {
    const revision = ++this.#revision;
    const copy = value?.slice();
    this.#slots.set(key, { value: copy, revision });
    for (const w of this.#watchers) {
      if (key.startsWith(w.prefix)) w.push({ key, value: copy?.slice(), revision });
    }
    return revision;
  }
}
