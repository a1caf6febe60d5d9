/**
 * `crypto.getRandomValues` and `crypto.randomUUID`. Every random byte comes
 * from the host (`node:crypto`'s CSPRNG) through a synchronous callback;
 * nothing here ever falls back to Math.random. Small requests are served
 * from a pool the host fills RANDOM_POOL_BYTES at a time; each byte of it is
 * handed out once and zeroed.
 */
import { DOMException } from './dom-exception.ts';
import { INTEGER_ARRAY_NAMES, typedArrayTag } from './typed-arrays.ts';

/** Host function: returns `n` fresh random bytes (1 ≤ n ≤ MAX_RANDOM_BYTES). */
export type HostRandom = (n: number) => unknown;

/** What the host hands over at a time for small requests. */
export const RANDOM_POOL_BYTES = 4096;
/** The most getRandomValues fills in one call (Web Crypto's quota). */
export const MAX_RANDOM_BYTES = 65_536;
/**
 * Host calls an isolate may make at once, and per second after that. Time
 * the host spends in them is not the isolate's CPU time, so without a bound
 * a loop of getRandomValues would keep the host thread busy for the whole
 * wall limit. 256 calls a second is ≥ 1 MiB of small requests (65,000
 * UUIDs) or 16 MiB of large ones.
 */
export const RANDOM_CALLS_BURST = 256;
export const RANDOM_CALLS_PER_S = 256;

const INTEGER_ARRAYS = new Set<string>(INTEGER_ARRAY_NAMES);

/** Captured before bundle code runs: a patched Math.min must not lift the call budget. */
const min = Math.min;

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Builds the `crypto` object of one isolate around the host's random source.
 * @param now the clock of the call budget, captured before bundle code runs.
 */
export function createCrypto(random: HostRandom, now: () => number = Date.now): object {
  let pool: Uint8Array = new Uint8Array(0);
  let at = 0;
  let calls = RANDOM_CALLS_BURST;
  let refilled = now();

  const fromHost = (n: number): Uint8Array => {
    const t = now();
    calls = min(RANDOM_CALLS_BURST, calls + ((t - refilled) * RANDOM_CALLS_PER_S) / 1000);
    refilled = t;
    if (calls < 1) {
      throw new DOMException(
        `crypto: random bytes requested more than ${RANDOM_CALLS_PER_S} times a second from the host`,
        'QuotaExceededError',
      );
    }
    calls -= 1;
    const bytes = random(n);
    if (!(bytes instanceof Uint8Array) || bytes.byteLength !== n) {
      throw new Error('crypto: the host returned no random bytes');
    }
    return bytes;
  };

  /** Fills `dest` with bytes never handed out before. */
  const fill = (dest: Uint8Array): void => {
    const n = dest.byteLength;
    if (n === 0) return;
    if (n > RANDOM_POOL_BYTES / 4) {
      const bytes = fromHost(n);
      dest.set(bytes);
      bytes.fill(0);
      return;
    }
    if (pool.byteLength - at < n) {
      pool.fill(0); // the unused rest is dropped, never served later
      pool = fromHost(RANDOM_POOL_BYTES);
      at = 0;
    }
    dest.set(pool.subarray(at, at + n));
    pool.fill(0, at, at + n);
    at += n;
  };

  class Crypto {
    constructor() {
      throw new TypeError('Illegal constructor');
    }

    getRandomValues<T>(this: unknown, view: T): T {
      if (this !== instance) throw new TypeError('Illegal invocation');
      // biome-ignore lint/complexity/noArguments: WebIDL tells a missing argument from undefined; length stays 1
      if (arguments.length === 0) {
        throw new TypeError(
          "Failed to execute 'getRandomValues' on 'Crypto': 1 argument required, but only 0 present.",
        );
      }
      const tag = typeof view === 'object' && view !== null ? typedArrayTag.call(view) : undefined;
      if (tag === undefined || !INTEGER_ARRAYS.has(tag)) {
        throw new DOMException(
          'The data argument must be an integer-type TypedArray',
          'TypeMismatchError',
        );
      }
      const v = view as unknown as ArrayBufferView;
      if (v.byteLength > MAX_RANDOM_BYTES) {
        throw new DOMException(
          `The ArrayBufferView's byte length (${v.byteLength}) exceeds the number of bytes of entropy available via this API (${MAX_RANDOM_BYTES})`,
          'QuotaExceededError',
        );
      }
      fill(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      return view;
    }

    randomUUID(this: unknown): string {
      if (this !== instance) throw new TypeError('Illegal invocation');
      const b = new Uint8Array(16);
      fill(b);
      b[6] = ((b[6] ?? 0) & 0x0f) | 0x40; // version 4
      b[8] = ((b[8] ?? 0) & 0x3f) | 0x80; // variant 10
      const h = (i: number) => HEX[b[i] ?? 0];
      return `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
    }

    get [Symbol.toStringTag](): string {
      return 'Crypto';
    }
  }
  const instance: object = Object.create(Crypto.prototype);
  return instance;
}
