/**
 * The bridge between the host and the prelude: the host functions the
 * prelude gets (console, timers, `fetch`, random bytes, large UTF-8
 * decodes), each an isolated-vm `Callback` that carries only copied
 * strings, numbers and bytes, and References to the prelude's entry points
 * the host calls for each render.
 */
import { randomFillSync } from 'node:crypto';
import ivm from 'isolated-vm';
import type { BackendFetchInit } from './backend-request.ts';
import { consoleCallback, type GuestLogEntry } from './console-capture.ts';
import { MAX_RANDOM_BYTES } from './guest/crypto.ts';
import type { GuestFetchResult, GuestRequestInit, GuestResult } from './guest/host.ts';
import { connectPrelude, installPrelude } from './guest-code.ts';

/** References to the prelude's entry points (`installed` in guest/prelude.ts). */
export interface GuestEntries {
  start: ivm.Reference<
    (init: GuestRequestInit, id: number, forget: number[] | null, settled: string[] | null) => void
  >;
  dispatch: ivm.Reference<
    (
      init: GuestRequestInit,
      id: number,
      forget: number[] | null,
      settled: string[] | null,
    ) => GuestResult | Promise<GuestResult>
  >;
  take: ivm.Reference<(id: number) => GuestResult | null>;
  wait: ivm.Reference<(id: number) => GuestResult | Promise<GuestResult>>;
  fireTimer: ivm.Reference<(id: number) => void>;
  settle: ivm.Reference<(requestId: string) => number[]>;
  abort: ivm.Reference<(requestId: string, message: string) => void>;
  deliverFetch: ivm.Reference<(id: number, result: GuestFetchResult) => void>;
  credit: ivm.Reference<(requestId: string, bytes: number) => void>;
}

/** What the guest's timer and `fetch` calls reach once the isolate is built. */
export interface BridgeTarget {
  /** Host side of the guest's setTimeout/clearTimeout. */
  timer(op: string, id: number, ms: number, owner: string): void;
  /** Host side of the guest's `fetch`: call `id` of render `owner`. */
  startFetch(id: number, owner: string, init: BackendFetchInit): void;
  /** Host side of a streamed response body: the head, then each chunk, of render `owner`. */
  streamed(op: string, owner: string, value: unknown, headers: unknown): void;
}

/** The prelude, installed in a context. */
export interface Bridge {
  guest: GuestEntries;
  /** True once the bundle called `Flotilla.serve`. */
  hasHandler: ivm.Reference<() => boolean>;
  /**
   * Sends the guest's timer and `fetch` calls to `target` from now on, after
   * the timers the bundle set while it loaded. Fetch calls made before are
   * refused by the guest (no render runs).
   */
  attach(target: BridgeTarget): void;
}

/** Stateless decoders (each call decodes one complete input), by fatal × ignoreBOM. */
const utf8Decoders = new Map<string, TextDecoder>();

/**
 * Host side of the guest's large `TextDecoder.decode` calls: the bytes
 * arrive copied; null for anything but a Uint8Array, or invalid UTF-8 when
 * `fatal` (the guest throws its own TypeError then).
 */
function decodeUtf8(bytes: unknown, fatal: unknown, ignoreBOM: unknown): string | null {
  if (!(bytes instanceof Uint8Array)) return null;
  const key = `${fatal === true} ${ignoreBOM === true}`;
  let decoder = utf8Decoders.get(key);
  if (decoder === undefined) {
    decoder = new TextDecoder('utf-8', { fatal: fatal === true, ignoreBOM: ignoreBOM === true });
    utf8Decoders.set(key, decoder);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Evaluates the prelude in `context` (unless `fromSnapshot`: the context
 * started from a deployment's snapshot, which holds it evaluated), connects
 * it to the host's callbacks and takes References to its entry points.
 * Every Reference made is pushed to `refs` (the caller releases them, also
 * when this fails).
 */
export async function installBridge(
  isolate: ivm.Isolate,
  context: ivm.Context,
  deploymentId: string,
  log: ((entry: GuestLogEntry) => void) | undefined,
  refs: Array<{ release(): void }>,
  fromSnapshot = false,
): Promise<Bridge> {
  let target: BridgeTarget | undefined;
  // Timers the bundle sets while it loads, replayed once the isolate exists.
  const early: Array<[string, number, number, string]> = [];
  const timerCallback = new ivm.Callback(
    (op: string, id: number, ms: number, owner: string) => {
      if (target) target.timer(op, id, ms, owner);
      else early.push([op, id, ms, owner]);
    },
    { ignored: true },
  );
  // Fetch calls made before `target` exists are refused by the guest (no render runs).
  const fetchCallback = new ivm.Callback(
    (
      id: number,
      owner: string,
      url: string,
      method: string,
      headers: unknown,
      body: unknown,
      redirect: string,
    ) => target?.startFetch(id, owner, { url, method, headers, body, redirect }),
    { ignored: true },
  );
  // A streamed body's head and chunks (copied), in the order the guest sent them.
  const streamCallback = new ivm.Callback(
    (op: string, owner: string, value: unknown, headers: unknown) =>
      target?.streamed(op, owner, value, headers),
    { ignored: true },
  );
  // Synchronous: the guest's crypto gets `n` fresh bytes from the CSPRNG (copied in).
  const randomCallback = new ivm.Callback((n: number) => {
    const size = Number.isInteger(n) && n > 0 && n <= MAX_RANDOM_BYTES ? n : 0;
    return randomFillSync(new Uint8Array(size));
  });
  // Synchronous: large UTF-8 decodes (a backend's JSON) in Node's native decoder.
  const decodeCallback = new ivm.Callback(decodeUtf8);
  // Compiled with this thread's code cache of the prelude (see installPrelude).
  if (!fromSnapshot) await installPrelude(isolate, context);
  const installed = await connectPrelude(context, [
    consoleCallback(deploymentId, log),
    timerCallback,
    fetchCallback,
    randomCallback,
    decodeCallback,
    streamCallback,
  ]);
  refs.push(installed);
  const entry = async <K extends keyof GuestEntries | 'hasHandler'>(name: K) => {
    const ref = await installed.get(name, { reference: true });
    refs.push(ref);
    return ref as K extends keyof GuestEntries ? GuestEntries[K] : ivm.Reference<() => boolean>;
  };
  const hasHandler = await entry('hasHandler');
  const guest: GuestEntries = {
    start: await entry('start'),
    dispatch: await entry('dispatch'),
    take: await entry('take'),
    wait: await entry('wait'),
    fireTimer: await entry('fireTimer'),
    settle: await entry('settle'),
    abort: await entry('abort'),
    deliverFetch: await entry('deliverFetch'),
    credit: await entry('credit'),
  };
  return {
    guest,
    hasHandler,
    attach(to) {
      target = to;
      for (const [op, id, ms, owner] of early) to.timer(op, id, ms, owner);
      early.length = 0;
    },
  };
}
