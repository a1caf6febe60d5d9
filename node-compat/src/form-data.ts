/**
 * `FormData` for string entries, for an isolate that has none: React's
 * server-action decoding (`decodeReply`) wraps a text body in one. Entries
 * keep their order; values are strings (the isolate has no `Blob`, so file
 * entries, and multipart bodies, are not supported).
 *
 * @module
 */

/** A `FormData` whose values are strings. */
export class StringFormData {
  readonly #entries: [string, string][] = [];

  append(name: string, value: unknown): void {
    this.#entries.push([String(name), String(value)]);
  }

  delete(name: string): void {
    const key = String(name);
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      if (this.#entries[i]?.[0] === key) this.#entries.splice(i, 1);
    }
  }

  get(name: string): string | null {
    const key = String(name);
    return this.#entries.find(([n]) => n === key)?.[1] ?? null;
  }

  getAll(name: string): string[] {
    const key = String(name);
    return this.#entries.filter(([n]) => n === key).map(([, v]) => v);
  }

  has(name: string): boolean {
    const key = String(name);
    return this.#entries.some(([n]) => n === key);
  }

  set(name: string, value: unknown): void {
    const key = String(name);
    const at = this.#entries.findIndex(([n]) => n === key);
    if (at === -1) {
      this.#entries.push([key, String(value)]);
      return;
    }
    this.#entries[at] = [key, String(value)];
    for (let i = this.#entries.length - 1; i > at; i--) {
      if (this.#entries[i]?.[0] === key) this.#entries.splice(i, 1);
    }
  }

  forEach(callback: (value: string, name: string, form: StringFormData) => void): void {
    for (const [name, value] of [...this.#entries]) callback(value, name, this);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const [name, value] of this.#entries) yield [name, value];
  }

  *keys(): IterableIterator<string> {
    for (const [name] of this.#entries) yield name;
  }

  *values(): IterableIterator<string> {
    for (const [, value] of this.#entries) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }

  get [Symbol.toStringTag](): string {
    return 'FormData';
  }
}
