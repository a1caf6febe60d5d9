import type { LeaseStore, LeaseStoreEntry } from './lease.ts';

/**
 * A {@link LeaseStore} in memory with the semantics of a JetStream KV bucket
 * (revisions from one sequence, compare-and-set, delete markers), for tests
 * and for candidates that all live in one process.
 */
export class MemoryLeaseStore implements LeaseStore {
  readonly #entries = new Map<string, LeaseStoreEntry>();
  #seq = 0;

  #conflict(): Error {
    // Same code as JetStream's "wrong last sequence" (10071).
    return Object.assign(new Error('wrong last sequence'), { code: 10071 });
  }

  async get(key: string): Promise<LeaseStoreEntry | null> {
    return this.#entries.get(key) ?? null;
  }

  async create(key: string, value: Uint8Array): Promise<number> {
    if (this.#entries.get(key)?.operation === 'PUT') throw this.#conflict();
    return this.put(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number> {
    if (this.#entries.get(key)?.revision !== revision) throw this.#conflict();
    return this.put(key, value);
  }

  async delete(key: string, options?: { previousSeq?: number }): Promise<void> {
    const e = this.#entries.get(key);
    if (options?.previousSeq !== undefined && e?.revision !== options.previousSeq) {
      throw this.#conflict();
    }
    this.#entries.set(key, { revision: ++this.#seq, operation: 'DEL', value: new Uint8Array() });
  }

  /** Writes `key` unconditionally (as `kv.put` would); resolves with the revision. */
  put(key: string, value: Uint8Array): number {
    const revision = ++this.#seq;
    this.#entries.set(key, { revision, operation: 'PUT', value: value.slice() });
    return revision;
  }

  /** The latest entry of `key`, synchronously. */
  peek(key: string): LeaseStoreEntry | undefined {
    return this.#entries.get(key);
  }
}
