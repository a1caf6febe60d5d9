import type ivm from 'isolated-vm';

/**
 * Compiled-code cache (`cachedData`) keyed by bundle hash. It only ever holds
 * data this process produced: never fill it from outside (CVE-2022-39266).
 */
export class CompileCache {
  readonly #entries = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();
  readonly #max: number;

  /** @param maxEntries bundles kept. @default 64 */
  constructor(maxEntries = 64) {
    this.#max = maxEntries;
  }

  /** @internal */
  get(hash: string): ivm.ExternalCopy<ArrayBuffer> | undefined {
    return this.#entries.get(hash);
  }

  /** @internal */
  set(hash: string, data: ivm.ExternalCopy<ArrayBuffer>): void {
    this.#entries.set(hash, data);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.get(oldest)?.release();
      this.#entries.delete(oldest);
    }
  }

  /** @internal */
  delete(hash: string): void {
    this.#entries.get(hash)?.release();
    this.#entries.delete(hash);
  }

  get size(): number {
    return this.#entries.size;
  }
}
