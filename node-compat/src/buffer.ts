/**
 * `node:buffer`: feross's `buffer` (unenv's defines `File` over `Blob`, which
 * the isolate lacks), with Node's acceptance of any `Uint8Array` where
 * feross's wants a Buffer (`indexOf`, `lastIndexOf`, `includes`; React's and
 * Next's stream code search Uint8Arrays that way).
 *
 * @module
 */
import * as feross from 'buffer';

const { Buffer } = feross;

type Search = (this: Uint8Array, value: unknown, ...rest: unknown[]) => number | boolean;

for (const name of ['indexOf', 'lastIndexOf', 'includes'] as const) {
  const original = Buffer.prototype[name] as unknown as Search;
  Object.defineProperty(Buffer.prototype, name, {
    configurable: true,
    writable: true,
    value: function search(this: Uint8Array, value: unknown, ...rest: unknown[]) {
      const needle =
        value instanceof Uint8Array && !Buffer.isBuffer(value)
          ? Buffer.from(value.buffer as ArrayBuffer, value.byteOffset, value.byteLength)
          : value;
      return original.call(this, needle, ...rest);
    },
  });
}

export * from 'buffer';
