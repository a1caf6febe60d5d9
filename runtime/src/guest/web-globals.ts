/**
 * The web-standard globals beyond fetch's classes, timers and console:
 * URL and URLSearchParams (whatwg-url), the WHATWG streams
 * (web-streams-polyfill), atob/btoa, structuredClone, crypto, DOMException;
 * and what a bundle must not see. `installWebGlobals` runs inside
 * `install()`, before any bundle code.
 */
import { atob, btoa } from './base64.ts';
import { createCrypto, type HostRandom } from './crypto.ts';
import { DOMException } from './dom-exception.ts';
import { defineLazy, loadUrl, type UrlModule } from './lazy.ts';
import { loadStreams, STREAM_GLOBALS, type StreamsModule } from './streams.ts';
import { structuredClone } from './structured-clone.ts';

export type { HostRandom };

/**
 * Globals a V8 context has that a bundle must not: shared memory and its
 * atomics (with threads they make timers of any precision; there are no
 * threads here, but nothing needs them either). Deleted when the host
 * connects the prelude (connect.ts). WebAssembly stays: SSR
 * libraries compile Wasm (Yoga, resvg, syntax highlighters, …).
 */
export const HIDDEN_GLOBALS = ['SharedArrayBuffer', 'Atomics'] as const;

export function installWebGlobals(
  define: (name: string, value: unknown) => void,
  random: HostRandom,
): void {
  // HIDDEN_GLOBALS go when the host connects (connect.ts), not here.
  define('DOMException', DOMException);
  define('atob', atob);
  define('btoa', btoa);
  define('structuredClone', structuredClone);
  define('crypto', createCrypto(random));
  defineLazy<UrlModule>(define, ['URL', 'URLSearchParams'], loadUrl);
  defineLazy<StreamsModule & Record<string, unknown>>(
    define,
    STREAM_GLOBALS,
    () => loadStreams() as StreamsModule & Record<string, unknown>,
  );
}
