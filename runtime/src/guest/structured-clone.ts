/**
 * structuredClone, by hand: V8 gives a bare isolate none, and the libraries
 * tested (see guest-globals.test.ts) either serialise to a JSON-friendly
 * format and back, losing shared buffers, view offsets, holes, `cause` and
 * DataCloneError (@ungap/structured-clone), or cost 45 KB and ~6 ms to load
 * per isolate and give clones of the wrong Map and Set (core-js-pure).
 *
 * Follows HTML's StructuredSerializeInternal / StructuredDeserialize, fused
 * into one pass, with V8's choices where it goes beyond the standard (an
 * error's `stack` and `cause` are cloned; `arguments` objects are not). Not
 * detectable from JavaScript, so not matched: a Proxy is cloned through its
 * traps (V8 refuses it), and a view on a resizable buffer that ends at the
 * buffer's end is taken to be length-tracking.
 */
import { DOMException } from './dom-exception.ts';
import { TYPED_ARRAY_NAMES, typedArrayTag } from './typed-arrays.ts';

const dataCloneError = (what: string) =>
  new DOMException(`${what} could not be cloned.`, 'DataCloneError');

const getter = (proto: object, key: PropertyKey): ((this: unknown) => unknown) => {
  const get = Object.getOwnPropertyDescriptor(proto, key)?.get;
  if (!get) throw new Error(`no getter ${String(key)}`);
  return get as (this: unknown) => unknown;
};

/** Calls `fn` with `this = value`; false when it throws (the brand check failed). */
const hasBrand = (
  fn: (...args: never[]) => unknown,
  value: object,
  ...args: unknown[]
): boolean => {
  try {
    Reflect.apply(fn, value, args);
    return true;
  } catch {
    return false;
  }
};

// Captured when the prelude loads: a bundle patching builtins later changes nothing here.
const arrayBufferByteLength = getter(ArrayBuffer.prototype, 'byteLength');
const sharedArrayBufferByteLength = getter(SharedArrayBuffer.prototype, 'byteLength');
const arrayBufferDetached = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'detached')?.get;
const dataViewByteLength = getter(DataView.prototype, 'byteLength');
const regExpSource = getter(RegExp.prototype, 'source');
const objectToString = Object.prototype.toString;
const promiseThen = Promise.prototype.then;
const noop = () => {};
let isError: (value: unknown) => boolean = (value) => value instanceof Error;
let wasmModuleExports: ((module: unknown) => unknown) | undefined;

type ViewConstructor = new (
  buffer: ArrayBuffer,
  byteOffset?: number,
  length?: number,
) => ArrayBufferView;
const VIEWS = new Map<string, ViewConstructor>();
const apply = Reflect.apply;
const mapHas = Map.prototype.has;
const mapSet = Map.prototype.set;

/**
 * Captures the builtins this file needs that V8 may add only when a context
 * starts (`Error.isError`, `WebAssembly`, `Float16Array`: absent while a
 * snapshot is made). Runs when the prelude loads and again when the host
 * connects it (connect.ts), which adds only what was missing: a bundle
 * evaluated in a snapshot could not touch those (snapshot-maker.ts refuses
 * a bundle that did).
 */
export function captureLateBuiltins(): void {
  const g = globalThis as Record<string, unknown>;
  const errorIsError = (Error as { isError?: unknown }).isError;
  if (typeof errorIsError === 'function') isError = errorIsError as (value: unknown) => boolean;
  wasmModuleExports ??= (g.WebAssembly as { Module?: { exports?: unknown } } | undefined)?.Module
    ?.exports as ((module: unknown) => unknown) | undefined;
  // Indexed, with Map methods captured at load: bundle code may have run before (a snapshot).
  for (let i = 0; i < TYPED_ARRAY_NAMES.length; i++) {
    const name = TYPED_ARRAY_NAMES[i] as string;
    const ctor = g[name];
    if (typeof ctor === 'function' && !apply(mapHas, VIEWS, [name])) {
      apply(mapSet, VIEWS, [name, ctor]);
    }
  }
}
captureLateBuiltins();

const ERROR_TYPES: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/** Objects V8 refuses to clone, by their built-in tag. */
const REFUSED_TAGS = new Set([
  'Arguments',
  'Generator',
  'AsyncGenerator',
  'Array Iterator',
  'Map Iterator',
  'Set Iterator',
  'String Iterator',
  'RegExp String Iterator',
  'Iterator Helper',
  'Segmenter String Iterator',
  'DisposableStack',
  'AsyncDisposableStack',
]);

function describe(value: unknown): string {
  if (typeof value === 'symbol') return value.toString();
  if (typeof value === 'function') return 'function';
  return `#<${objectToString.call(value).slice(8, -1)}>`;
}

function isArrayBuffer(value: object): value is ArrayBuffer {
  return hasBrand(arrayBufferByteLength, value);
}

function isDetached(buffer: ArrayBuffer): boolean {
  if (arrayBufferDetached) return arrayBufferDetached.call(buffer) === true;
  try {
    new Uint8Array(buffer); // throws on a detached buffer
    return false;
  } catch {
    return true;
  }
}

/** A copy of `buffer`, resizable (with the same maximum) if it is. */
function copyBuffer(buffer: ArrayBuffer): ArrayBuffer {
  if (isDetached(buffer))
    throw new DOMException('An ArrayBuffer is detached and could not be cloned.', 'DataCloneError');
  const resizable = buffer as ArrayBuffer & { resizable?: boolean; maxByteLength?: number };
  if (resizable.resizable === true) {
    const copy = new ArrayBuffer(buffer.byteLength, {
      maxByteLength: resizable.maxByteLength ?? 0,
    });
    new Uint8Array(copy).set(new Uint8Array(buffer));
    return copy;
  }
  return buffer.slice(0);
}

type Memory = Map<object, unknown>;

function cloneObject(value: object, memory: Memory): unknown {
  if (memory.has(value)) return memory.get(value);
  const keep = <T>(copy: T): T => {
    memory.set(value, copy);
    return copy;
  };

  if (hasBrand(Boolean.prototype.valueOf, value))
    return keep(Object(Boolean.prototype.valueOf.call(value)));
  if (hasBrand(Number.prototype.valueOf, value))
    return keep(Object(Number.prototype.valueOf.call(value)));
  if (hasBrand(String.prototype.valueOf, value))
    return keep(Object(String.prototype.valueOf.call(value)));
  if (hasBrand(BigInt.prototype.valueOf, value))
    return keep(Object(BigInt.prototype.valueOf.call(value)));
  if (hasBrand(Symbol.prototype.valueOf, value)) throw dataCloneError('[object Symbol]');
  if (hasBrand(Date.prototype.getTime, value))
    return keep(new Date(Date.prototype.getTime.call(value)));
  if (value !== RegExp.prototype && hasBrand(regExpSource, value)) {
    const re = value as RegExp;
    return keep(new RegExp(re.source, re.flags));
  }
  if (isArrayBuffer(value)) return keep(copyBuffer(value));
  if (hasBrand(sharedArrayBufferByteLength, value)) throw dataCloneError('#<SharedArrayBuffer>');
  if (ArrayBuffer.isView(value)) {
    const source = value.buffer;
    if (!isArrayBuffer(source)) throw dataCloneError('#<SharedArrayBuffer>');
    const buffer = cloneObject(source, memory) as ArrayBuffer;
    if (hasBrand(dataViewByteLength, value)) {
      return keep(new DataView(buffer, value.byteOffset, value.byteLength));
    }
    const name = typedArrayTag.call(value) as string;
    const View = VIEWS.get(name);
    if (!View) throw dataCloneError(`#<${name}>`);
    const tracking =
      (source as { resizable?: boolean }).resizable === true &&
      value.byteOffset + value.byteLength === source.byteLength;
    const length =
      value.byteLength / (View as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    return keep(
      tracking ? new View(buffer, value.byteOffset) : new View(buffer, value.byteOffset, length),
    );
  }
  if (hasBrand(Map.prototype.has, value)) {
    const copy = keep(new Map());
    const entries = [...Map.prototype.entries.call(value as Map<unknown, unknown>)];
    for (const [k, v] of entries) copy.set(cloneValue(k, memory), cloneValue(v, memory));
    return copy;
  }
  if (hasBrand(Set.prototype.has, value)) {
    const copy = keep(new Set());
    const items = [...Set.prototype.values.call(value as Set<unknown>)];
    for (const v of items) copy.add(cloneValue(v, memory));
    return copy;
  }
  if (isError(value)) return cloneError(value as Error, memory, keep);
  if (
    hasBrand(WeakMap.prototype.has, value, {}) ||
    hasBrand(WeakSet.prototype.has, value, {}) ||
    hasBrand(WeakRef.prototype.deref, value) ||
    hasBrand(FinalizationRegistry.prototype.unregister, value, {}) ||
    // then() checks the brand first; on a promise (refused anyway) it only adds a no-op reaction.
    hasBrand(promiseThen, value, noop, noop)
  ) {
    throw dataCloneError(describe(value));
  }
  const tag = objectToString.call(value).slice(8, -1);
  if (!Object.hasOwn(value, Symbol.toStringTag)) {
    if (REFUSED_TAGS.has(tag) || tag.startsWith('Intl.')) throw dataCloneError(describe(value));
    if (tag.startsWith('WebAssembly.')) {
      // Compiled modules are immutable: sharing one is as good as copying it.
      if (
        tag === 'WebAssembly.Module' &&
        wasmModuleExports &&
        hasBrand(wasmModuleExports, globalThis, value)
      ) {
        return keep(value);
      }
      throw dataCloneError(describe(value));
    }
  }
  if (Array.isArray(value)) {
    const copy = keep(new Array<unknown>(value.length));
    copyProperties(value, copy, memory);
    return copy;
  }
  const copy = keep({});
  copyProperties(value, copy, memory);
  return copy;
}

/** Own enumerable string-keyed properties, read with [[Get]] (getters run), as the standard does. */
function copyProperties(from: object, to: object, memory: Memory): void {
  for (const key of Object.keys(from)) {
    if (!Object.hasOwn(from, key)) continue; // deleted by an earlier getter
    const v = cloneValue((from as Record<string, unknown>)[key], memory);
    (to as Record<string, unknown>)[key] = v;
  }
}

function cloneError(error: Error, memory: Memory, keep: <T>(copy: T) => T): Error {
  const rawName = error.name;
  const Ctor =
    (typeof rawName === 'string' && Object.hasOwn(ERROR_TYPES, rawName) && ERROR_TYPES[rawName]) ||
    Error;
  const messageDesc = Object.getOwnPropertyDescriptor(error, 'message');
  const message = messageDesc && 'value' in messageDesc ? String(messageDesc.value) : undefined;
  const copy = keep(message === undefined ? new Ctor() : new Ctor(message));
  // V8 keeps `stack` as an own accessor; a bundle may have set it to any string.
  if (Object.hasOwn(error, 'stack')) {
    const stack = error.stack;
    if (typeof stack === 'string') copy.stack = stack;
  }
  const causeDesc = Object.getOwnPropertyDescriptor(error, 'cause');
  if (causeDesc && 'value' in causeDesc) {
    Object.defineProperty(copy, 'cause', {
      value: cloneValue(causeDesc.value, memory),
      writable: true,
      enumerable: false,
      configurable: true,
    });
  }
  return copy;
}

function cloneValue(value: unknown, memory: Memory): unknown {
  if (typeof value === 'symbol' || typeof value === 'function')
    throw dataCloneError(describe(value));
  if (value === null || typeof value !== 'object') return value;
  return cloneObject(value, memory);
}

/** The `structuredClone(value, { transfer })` global. */
export function structuredClone(this: unknown, value: unknown, options?: unknown): unknown {
  // biome-ignore lint/complexity/noArguments: WebIDL tells a missing argument from undefined; length is 2 as in Node
  if (arguments.length === 0)
    throw new TypeError(
      "Failed to execute 'structuredClone': 1 argument required, but only 0 present.",
    );
  if (options !== undefined && options !== null && typeof options !== 'object') {
    throw new TypeError(
      "Failed to execute 'structuredClone': The provided value is not of type 'StructuredSerializeOptions'.",
    );
  }
  const list = (options as { transfer?: unknown } | null | undefined)?.transfer;
  const transfer: ArrayBuffer[] = [];
  if (list !== undefined) {
    if (list === null || typeof (list as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new TypeError(
        "Failed to execute 'structuredClone': The transfer list is not iterable.",
      );
    }
    for (const item of list as Iterable<unknown>) {
      if (item === null || typeof item !== 'object' || !isArrayBuffer(item)) {
        throw new DOMException('Value not transferable', 'DataCloneError');
      }
      if (transfer.includes(item)) {
        throw new DOMException(
          'ArrayBuffer at index 1 is a duplicate of an earlier ArrayBuffer.',
          'DataCloneError',
        );
      }
      if (isDetached(item)) {
        throw new DOMException(
          'An ArrayBuffer is detached and could not be cloned.',
          'DataCloneError',
        );
      }
      transfer.push(item);
    }
  }
  const memory: Memory = new Map();
  // A transferred buffer's contents move to the clone; the original is detached after.
  for (const buffer of transfer) memory.set(buffer, copyBuffer(buffer));
  const result = cloneValue(value, memory);
  for (const buffer of transfer) (buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
  return result;
}
