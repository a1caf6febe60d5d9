/** The typed array kinds, by their built-in names (captured when the prelude loads). */

/** Typed arrays of integers: what `crypto.getRandomValues` fills. */
export const INTEGER_ARRAY_NAMES = [
  'Int8Array',
  'Uint8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'BigInt64Array',
  'BigUint64Array',
] as const;

/** Every typed array (a name may be missing from an older V8: check the global). */
export const TYPED_ARRAY_NAMES = [
  ...INTEGER_ARRAY_NAMES,
  'Float16Array',
  'Float32Array',
  'Float64Array',
] as const;

/**
 * `%TypedArray%.prototype[Symbol.toStringTag]`'s getter: a typed array's
 * name, or undefined for anything else (a bundle cannot fake it).
 */
export const typedArrayTag = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype),
  Symbol.toStringTag,
)?.get as (this: unknown) => string | undefined;
