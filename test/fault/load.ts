/**
 * A small open-loop HTTP load generator for the fault suites: requests leave
 * at a fixed rate for a fixed time whether or not earlier ones have answered
 * (so a stalled fleet shows as latency and errors, never as a slower sender),
 * over the global fetch (undici, keep-alive). Every request is recorded:
 * when it left, when it ended, its status and `x-flotilla-error`, or the
 * network error that ended it.
 *
 * @module
 */
import { setTimeout as delay } from 'node:timers/promises';

/** Milliseconds on one monotonic clock shared by the generator and the tests. */
export function clock(): number {
  return performance.timeOrigin + performance.now();
}

/** Options of {@link startLoad}. */
export interface LoadOptions {
  /** Requests per second (open loop: sent on schedule whatever the answers). */
  rate: number;
  /** How long to keep sending, ms. */
  durationMs: number;
  /** URL of the `i`-th request (0-based). */
  target: (i: number) => string;
  /**
   * Client-side cap on one request (headers and body), ms. A request that
   * hits it is recorded with `error: 'client timeout'`.
   * @default 15000
   */
  timeoutMs?: number;
}

/** What happened to one request. */
export interface RequestRecord {
  /** Sequence number. */
  i: number;
  url: string;
  /** When it was due to leave, on {@link clock}. */
  scheduledAt: number;
  /** When it left, on {@link clock}. */
  sentAt: number;
  /** When its body was read or it failed, on {@link clock}; `undefined` while pending. */
  endedAt: number | undefined;
  /** HTTP status, or `undefined` when no response arrived. */
  status: number | undefined;
  /** The `x-flotilla-error` response header, if any. */
  flotillaError: string | undefined;
  /** The network error (e.g. `ECONNRESET`) or `client timeout`, if no response arrived. */
  error: string | undefined;
  /** First 200 characters of the body of a non-200 answer (for failure messages). */
  detail: string | undefined;
}

/** A running load: its records (filled as requests end) and its end. */
export interface LoadRun {
  /** Every request sent so far, in order (pending ones have no `endedAt`). */
  readonly records: RequestRecord[];
  /** Resolves once the schedule is over and every request has ended. */
  readonly done: Promise<RequestRecord[]>;
  /** Stops sending new requests (those in flight still end). */
  stop(): void;
}

function networkError(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return 'client timeout';
  }
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (err as Error)?.message ?? String(err);
}

async function send(record: RequestRecord, timeoutMs: number): Promise<void> {
  try {
    const res = await fetch(record.url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    record.status = res.status;
    record.flotillaError = res.headers.get('x-flotilla-error') ?? undefined;
    if (res.status !== 200) record.detail = body.slice(0, 200);
  } catch (err) {
    record.error = networkError(err);
  } finally {
    record.endedAt = clock();
  }
}

/**
 * Starts sending `rate` requests per second for `durationMs`, open loop. A
 * sender that falls behind (a busy event loop) sends the late requests at
 * once rather than dropping them; the lag shows as `sentAt - scheduledAt`.
 */
export function startLoad(options: LoadOptions): LoadRun {
  const { rate, durationMs, target } = options;
  if (!(rate > 0) || !(durationMs > 0)) throw new RangeError('rate and durationMs must be > 0');
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = 1000 / rate;
  const total = Math.floor((durationMs * rate) / 1000);
  const records: RequestRecord[] = [];
  const inFlight: Promise<void>[] = [];
  let stopped = false;
  const started = clock();
  const done = (async () => {
    for (let i = 0; i < total && !stopped; i++) {
      const scheduledAt = started + i * intervalMs;
      const wait = scheduledAt - clock();
      if (wait > 0) await delay(wait);
      if (stopped) break;
      const url = target(i);
      const record: RequestRecord = {
        i,
        url,
        scheduledAt,
        sentAt: clock(),
        endedAt: undefined,
        status: undefined,
        flotillaError: undefined,
        error: undefined,
        detail: undefined,
      };
      records.push(record);
      inFlight.push(send(record, timeoutMs));
    }
    await Promise.all(inFlight);
    return records;
  })();
  return {
    records,
    done,
    stop() {
      stopped = true;
    },
  };
}

/** Latency (ms) of a finished request. */
export function latency(r: RequestRecord): number {
  return (r.endedAt ?? Number.NaN) - r.sentAt;
}

/** Nearest-rank percentile of `values` (`p` in 0..100); NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Counts and latencies of a set of records. */
export interface LoadSummary {
  total: number;
  ok: number;
  /** Requests that did not end with a 200 (other statuses and network errors). */
  failed: number;
  /** `status` or `status code` or the network error → count. */
  outcomes: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
}

/** How a request ended, as one short string: `200`, `503 FLOTILLA_ERR_…`, `ECONNRESET`. */
export function outcome(r: RequestRecord): string {
  if (r.status === undefined) return r.error ?? 'pending';
  return r.flotillaError ? `${r.status} ${r.flotillaError}` : String(r.status);
}

/** Summarises `records` (all of them should have ended). */
export function summarize(records: readonly RequestRecord[]): LoadSummary {
  const outcomes: Record<string, number> = {};
  for (const r of records) {
    const key = outcome(r);
    outcomes[key] = (outcomes[key] ?? 0) + 1;
  }
  const ok = records.filter((r) => r.status === 200).length;
  const ms = records.filter((r) => r.endedAt !== undefined).map(latency);
  return {
    total: records.length,
    ok,
    failed: records.length - ok,
    outcomes,
    p50: percentile(ms, 50),
    p99: percentile(ms, 99),
    max: ms.length ? Math.max(...ms) : Number.NaN,
  };
}

/** One line for the test output: counts, outcomes and latencies. */
export function formatSummary(label: string, s: LoadSummary, extra = ''): string {
  const outcomes = Object.entries(s.outcomes)
    .map(([k, n]) => `${k}×${n}`)
    .join(', ');
  const ms = (n: number) => `${Math.round(n)} ms`;
  return `[fault] ${label}: ${s.total} requests, ${s.ok} ok, ${s.failed} failed (${outcomes}); p50 ${ms(s.p50)}, p99 ${ms(s.p99)}, max ${ms(s.max)}${extra ? `; ${extra}` : ''}`;
}

/** The failed records, described for an assertion message. */
export function describeFailures(records: readonly RequestRecord[], limit = 10): string {
  return records
    .filter((r) => r.status !== 200)
    .slice(0, limit)
    .map(
      (r) =>
        `#${r.i} ${r.url} → ${outcome(r)} after ${Math.round(latency(r))} ms${r.detail ? `: ${r.detail.trim()}` : ''}`,
    )
    .join('\n');
}
