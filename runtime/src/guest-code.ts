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
 * a local `__flotillaPrelude` with `install()`.
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

/**
 * Evaluates the guest prelude in `context` and calls its `install()` with
 * `callbacks` (isolated-vm `Callback`s, in install's parameter order).
 * Resolves with a Reference to what install returned (the caller releases it).
 */
export async function installPrelude(
  isolate: ivm.Isolate,
  context: ivm.Context,
  callbacks: unknown[],
): Promise<ivm.Reference<Record<string, unknown>>> {
  if (preludeScript === undefined) {
    // A function scope keeps `__flotillaPrelude` off the global object.
    const source = `(() => {\n${guestPreludeSource()}\nreturn __flotillaPrelude.install;\n})()`;
    preludeScript = { hash: createHash('sha256').update(source).digest('hex'), source };
  }
  const { hash, source } = preludeScript;
  const cachedData = preludeCache?.hash === hash ? preludeCache.data : undefined;
  const script = (await isolate.compileScript(source, {
    filename: 'flotilla://prelude.js',
    ...(cachedData ? { cachedData } : { produceCachedData: true }),
  })) as ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer>; cachedDataRejected?: boolean };
  if (script.cachedDataRejected) preludeCache = undefined;
  else if (!cachedData && script.cachedData) preludeCache = { hash, data: script.cachedData };
  const install = (await script.run(context, {
    release: true,
    reference: true,
  })) as ivm.Reference<(...args: unknown[]) => Record<string, unknown>>;
  try {
    return (await install.apply(undefined, callbacks as never[], {
      result: { reference: true },
    })) as ivm.Reference<Record<string, unknown>>;
  } finally {
    install.release();
  }
}
