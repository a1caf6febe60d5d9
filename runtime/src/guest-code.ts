import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import type ivm from 'isolated-vm';

/** `.ts` from source; the installed package bundles tsc's output of the same files (dist/guest/). */
const GUEST_EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const guestFile = (name: string) =>
  fileURLToPath(new URL(`./guest/${name}${GUEST_EXT}`, import.meta.url));
const GUEST_ENTRY = guestFile('prelude');
/** whatwg-url's own tr46, for lazy-tr46.ts to load when a host needs UTS #46. */
const REAL_TR46 = createRequire(createRequire(import.meta.url).resolve('whatwg-url')).resolve(
  'tr46',
);

let cached: string | undefined;

/**
 * Hands this thread a prelude another thread of the process built with
 * {@link guestPreludeSource} (the build takes ~70 ms: do it once per process).
 */
export function useGuestPreludeSource(source: string): void {
  cached ??= source;
}

/**
 * The guest prelude (`src/guest/`) bundled into one script, built once per
 * thread unless {@link useGuestPreludeSource} handed it one. It evaluates to
 * a local `__flotillaPrelude` with `prepare()` (see guest/connect.ts).
 */
export function guestPreludeSource(): string {
  if (cached !== undefined) return cached;
  const result = buildSync({
    entryPoints: [GUEST_ENTRY],
    bundle: true,
    format: 'iife',
    globalName: '__flotillaPrelude',
    platform: 'neutral',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
    // Library packages (whatwg-url and its dependencies) name their entry in `main`.
    mainFields: ['module', 'main'],
    // `URL.name` is 'URL', as everywhere else.
    keepNames: true,
    alias: {
      // The URL Standard's ASCII fast path before the 240 KB UTS #46 module (see the file).
      tr46: guestFile('lazy-tr46'),
      '@flotilla-guest/real-tr46': REAL_TR46,
      // Legacy multi-byte encodings the URL API never uses (see the file).
      '@exodus/bytes/encoding.js': guestFile('no-legacy-encodings'),
    },
    // Libraries bind TextEncoder, TextDecoder and SharedArrayBuffer to the prelude's (see the file).
    inject: [guestFile('lib-globals')],
  });
  const file = result.outputFiles?.[0];
  if (!file) throw new Error('esbuild produced no guest prelude');
  cached = file.text;
  return cached;
}

/**
 * V8 code cache of the prelude script, produced by this thread's first
 * isolate and used by the next ones: the prelude is ~420 KB (the URL and
 * streams libraries, evaluated lazily but still parsed), and compiling it
 * from scratch costs ~5 ms per isolate. Produced in-process only, keyed by
 * the prelude's hash; never read from outside the process (CVE-2022-39266).
 */
let preludeCache: { hash: string; data: ivm.ExternalCopy<ArrayBuffer> } | undefined;
let preludeScript: { hash: string; source: string } | undefined;

/** The global the prelude's `prepare()` defines (`CONNECT_GLOBAL` of guest/connect.ts). */
const CONNECT_GLOBAL = '__flotillaConnect';

/**
 * The script that evaluates the guest prelude and runs its `prepare()`:
 * the globals installed, and `__flotillaConnect` waiting for the host's
 * functions. A fresh isolate runs it before the bundle; a deployment's
 * snapshot holds it evaluated (see snapshot-maker.ts).
 */
export function preludeSetupSource(): string {
  if (preludeScript === undefined) {
    // A function scope keeps `__flotillaPrelude` off the global object.
    const source = `(() => {\n${guestPreludeSource()}\n__flotillaPrelude.prepare();\n})()`;
    preludeScript = { hash: createHash('sha256').update(source).digest('hex'), source };
  }
  return preludeScript.source;
}

/** sha256 of {@link preludeSetupSource}: part of every snapshot's key. */
export function preludeHash(): string {
  preludeSetupSource();
  return (preludeScript as { hash: string }).hash;
}

/**
 * Evaluates the guest prelude in `context` (compiled with this thread's
 * code cache of it): the globals, not yet connected to the host (see
 * {@link connectPrelude}).
 */
export async function installPrelude(isolate: ivm.Isolate, context: ivm.Context): Promise<void> {
  const source = preludeSetupSource();
  const hash = preludeHash();
  const cachedData = preludeCache?.hash === hash ? preludeCache.data : undefined;
  const script = (await isolate.compileScript(source, {
    filename: 'flotilla://prelude.js',
    ...(cachedData ? { cachedData } : { produceCachedData: true }),
  })) as ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer>; cachedDataRejected?: boolean };
  if (script.cachedDataRejected) preludeCache = undefined;
  else if (!cachedData && script.cachedData) preludeCache = { hash, data: script.cachedData };
  await script.run(context, { release: true });
}

/**
 * Hands the prelude of `context` (evaluated by {@link installPrelude}, or
 * held by the snapshot the isolate started from) the host's `callbacks`
 * (isolated-vm `Callback`s, in `__flotillaConnect`'s parameter order).
 * Resolves with a Reference to the entry points it returns (the caller
 * releases it). It answers once per context.
 */
export async function connectPrelude(
  context: ivm.Context,
  callbacks: unknown[],
): Promise<ivm.Reference<Record<string, unknown>>> {
  const connect = (await context.global.get(CONNECT_GLOBAL, {
    reference: true,
  })) as ivm.Reference<(...args: unknown[]) => Record<string, unknown>>;
  try {
    if (connect.typeof !== 'function') throw new Error('the prelude is not installed');
    return (await connect.apply(undefined, callbacks as never[], {
      result: { reference: true },
    })) as ivm.Reference<Record<string, unknown>>;
  } finally {
    connect.release();
  }
}
