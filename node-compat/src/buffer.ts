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

/** Node's `buffer.isUtf8`: whether `input` is well-formed UTF-8. */
export function isUtf8(input: ArrayBufferView | ArrayBuffer): boolean {
  const bytes =
    input instanceof ArrayBuffer
      ? new Uint8Array(input)
      : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  for (let i = 0; i < bytes.length; ) {
    const b = bytes[i] ?? 0;
    const extra =
      b < 0x80
        ? 0
        : b >= 0xc2 && b < 0xe0
          ? 1
          : b >= 0xe0 && b < 0xf0
            ? 2
            : b >= 0xf0 && b < 0xf5
              ? 3
              : -1;
    if (extra < 0 || i + extra >= bytes.length + (extra === 0 ? 1 : 0)) return false;
    let code = extra === 0 ? b : b & (0x3f >> extra);
    for (let k = 1; k <= extra; k++) {
      const c = bytes[i + k] ?? 0;
      if ((c & 0xc0) !== 0x80) return false;
      code = (code << 6) | (c & 0x3f);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if (
      (extra === 2 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff))) ||
      (extra === 3 && (code < 0x10000 || code > 0x10ffff))
    ) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

/** Node's `buffer.isAscii`. */
export function isAscii(input: ArrayBufferView | ArrayBuffer): boolean {
  const bytes =
    input instanceof ArrayBuffer
      ? new Uint8Array(input)
      : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return bytes.every((b) => b < 0x80);
}

export * from 'buffer';
