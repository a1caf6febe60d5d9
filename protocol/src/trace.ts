import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids, drawn from the CSPRNG 4 KiB at a time: one
 * `randomBytes(8)` call costs ~6 µs, and every hop of every request draws a
 * span id.
 */
const pool = Buffer.alloc(4096);
let used = pool.length;

function randomHex(bytes: number): string {
  if (used + bytes > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  const hex = pool.toString('hex', used, used + bytes);
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
