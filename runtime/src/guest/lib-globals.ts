/**
 * Injected by esbuild (`inject` in guest-code.ts) into every module of the
 * prelude: a free `TextEncoder`, `TextDecoder` or `SharedArrayBuffer` in a
 * bundled library (whatwg-url reads them when it loads) binds to these
 * instead of a global. The libraries load lazily, after `install()` hid
 * SharedArrayBuffer and when a bundle may have replaced the encoders, so
 * they must not depend on the globals of that moment.
 */
import { GuestTextDecoder, GuestTextEncoder } from './encoding.ts';

export { GuestTextDecoder as TextDecoder, GuestTextEncoder as TextEncoder };

/**
 * Stands in where V8 runs without shared memory, and where a snapshot is
 * made (V8 adds SharedArrayBuffer only when a context starts): no value is
 * one of these. Its getters are the brand checks libraries take from
 * `SharedArrayBuffer.prototype` (webidl-conversions reads all three).
 */
class NoSharedArrayBuffer {
  get byteLength(): number {
    throw new TypeError('not a SharedArrayBuffer');
  }
  get growable(): boolean {
    throw new TypeError('not a SharedArrayBuffer');
  }
  get maxByteLength(): number {
    throw new TypeError('not a SharedArrayBuffer');
  }
}

/** Captured when the prelude is evaluated, before `install()` deletes the global. */
const sharedArrayBuffer: { prototype: object } =
  (globalThis as { SharedArrayBuffer?: { prototype: object } }).SharedArrayBuffer ??
  NoSharedArrayBuffer;

export { sharedArrayBuffer as SharedArrayBuffer };
