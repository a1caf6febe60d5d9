import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Returns a W3C `traceparent` for a hop: keeps the trace id of `incoming`
 * when it is valid, with a new span id; otherwise starts a new trace.
 */
export function nextTraceparent(incoming?: string | null): string {
  const span = randomBytes(8).toString('hex');
  const m = incoming ? TRACEPARENT.exec(incoming.trim().toLowerCase()) : null;
  // All-zero trace or parent ids are invalid (W3C Trace Context §3.2.2.3/4).
  if (m && !/^0+$/.test(m[1] ?? '') && !/^0+$/.test(m[2] ?? '')) {
    return `00-${m[1]}-${span}-${m[3]}`;
  }
  return `00-${randomBytes(16).toString('hex')}-${span}-01`;
}

/** The trace id inside a `traceparent`, or undefined when it is malformed. */
export function traceIdOf(traceparent: string): string | undefined {
  return TRACEPARENT.exec(traceparent)?.[1];
}
