/**
 * Random bytes for ids, drawn from the CSPRNG 4 KiB at a time: one
 * `getRandomValues` call per id costs several µs, and every hop of every
 * request draws a span id. Web crypto only, so that bundle-side code
 * (isolates) can import this package.
 */
const POOL_BYTES = 4096;
const pool = new Uint8Array(POOL_BYTES);
let used = POOL_BYTES;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function randomHex(bytes: number): string {
  if (used + bytes > POOL_BYTES) {
    globalThis.crypto.getRandomValues(pool);
    used = 0;
  }
  // A table lookup per byte is as fast as Buffer's hex encoding for ids this short.
  let hex = '';
  for (let i = used; i < used + bytes; i++) hex += HEX[pool[i] as number];
  used += bytes;
  return hex;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Returns a W3C `traceparent` for a hop: keeps the trace id of `incoming`
 * when it is valid, with a new span id; otherwise starts a new trace.
 */
export function nextTraceparent(incoming?: string | null): string {
  const span = randomHex(8);
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  // All-zero trace or parent ids are invalid (W3C Trace Context §3.2.2.3/4).
  if (m && !/^0+$/.test(m[1] ?? '') && !/^0+$/.test(m[2] ?? '')) {
    return `00-${m[1]}-${span}-${m[3]}`;
  }
  return `00-${randomHex(16)}-${span}-01`;
}

/** The trace id inside a `traceparent`, or undefined when it is malformed. */
export function traceIdOf(traceparent: string): string | undefined {
  return TRACEPARENT.exec(traceparent)?.[1];
}
