/**
 * The prelude's host functions bound late. A V8 startup snapshot cannot
 * hold a host reference (an isolated-vm Callback), so the prelude installs
 * its globals with stand-ins and the host hands the real functions over
 * afterwards, once per context: right after the prelude in a fresh isolate,
 * or when an isolate starts from a deployment's snapshot (prelude and bundle
 * evaluated inside it). Both ways run the same code in the same order, so
 * the bundle sees the same globals.
 */
import { restartClock } from './clock.ts';
import type { HostUtf8Decode } from './encoding.ts';
import type { FetchHostCallback, HostCallback, StreamHostCallback } from './host.ts';
import { install } from './prelude.ts';
import { captureLateBuiltins } from './structured-clone.ts';
import { HIDDEN_GLOBALS, type HostRandom } from './web-globals.ts';

/** The global the host reads the connect function from (never writable or configurable). */
export const CONNECT_GLOBAL = '__flotillaConnect';

/** Thrown by a host function the bundle reaches while a snapshot is made (no host then). */
class NoHostWhileSnapshotting extends Error {
  constructor(what: string) {
    super(`${what} is not available while the deployment's snapshot is made`);
  }
}

/**
 * Installs the prelude's globals and defines `__flotillaConnect(log,
 * timers, fetch, random, decodeUtf8, stream)`, which binds the host functions and
 * returns the entry points the host calls (`Installed` in prelude.ts). It
 * answers once per context: a second call (a bundle calling it, or calling
 * it again) throws, so a bundle can never swap the host's functions or get
 * the entry points. Until it is called (only while a snapshot is made), log
 * lines are dropped and timers, randomness and host decoding throw: the
 * snapshot is then refused (a pending timer would never fire, random bytes
 * would be shared by every isolate started from it).
 */
export function prepare(): void {
  let connected = false;
  let log: HostCallback | undefined;
  let timers: HostCallback | undefined;
  let fetchHost: FetchHostCallback | undefined;
  let random: HostRandom | undefined;
  let decode: HostUtf8Decode | undefined;
  let streamHost: StreamHostCallback | undefined;
  const apply = Reflect.apply;
  const defineProperty = Object.defineProperty;
  const installed = install(
    (...args) => {
      if (log !== undefined) apply(log, undefined, args);
    },
    (...args) => {
      if (timers === undefined) throw new NoHostWhileSnapshotting('setTimeout');
      apply(timers, undefined, args);
    },
    ((...args: unknown[]) => {
      if (fetchHost === undefined) throw new NoHostWhileSnapshotting('fetch');
      apply(fetchHost, undefined, args);
    }) as FetchHostCallback,
    (n) => {
      if (random === undefined) throw new NoHostWhileSnapshotting('crypto');
      return random(n);
    },
    (bytes, fatal, ignoreBOM) => {
      if (decode === undefined) throw new NoHostWhileSnapshotting('TextDecoder');
      return decode(bytes, fatal, ignoreBOM);
    },
    ((...args: unknown[]) => {
      if (streamHost === undefined) throw new NoHostWhileSnapshotting('a streamed body');
      apply(streamHost, undefined, args);
    }) as StreamHostCallback,
  );
  const g = globalThis as Record<string, unknown>;
  const connect = (
    hostLog: HostCallback,
    hostTimers: HostCallback,
    hostFetch: FetchHostCallback,
    hostRandom: HostRandom,
    hostDecode: HostUtf8Decode,
    hostStream: StreamHostCallback,
  ) => {
    if (connected) throw new Error('the prelude is already connected');
    connected = true;
    log = hostLog;
    timers = hostTimers;
    fetchHost = hostFetch;
    random = hostRandom;
    decode = hostDecode;
    streamHost = hostStream;
    // Here, not while the globals are installed: deleting a global V8 adds
    // when a context starts (Atomics) breaks the context made from a snapshot.
    // An index, not an iterator: in a snapshot the bundle ran before this and
    // may have patched Array.prototype[Symbol.iterator].
    for (let i = 0; i < HIDDEN_GLOBALS.length; i++) delete g[HIDDEN_GLOBALS[i] as string];
    captureLateBuiltins();
    restartClock();
    return installed;
  };
  defineProperty(g, CONNECT_GLOBAL, {
    value: connect,
    writable: false,
    enumerable: false,
    configurable: false,
  });
}
