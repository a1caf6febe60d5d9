/**
 * A closed-loop HTTP load generator in worker threads of the bench process
 * (see `http-load-thread.ts`): N keep-alive connections on 127.0.0.1, each
 * sending its next GET as soon as the previous response is read. The bench's
 * main thread stays idle during a run, so the generator competes with the
 * servers only through its own threads, whose CPU time it reports (to tell
 * whether it, rather than the server, was the limit).
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { LoadJob, LoadThreadResult } from './http-load-thread.ts';

export type { LoadJob } from './http-load-thread.ts';

/** Merged figures of one run over every thread. */
export interface LoadResult {
  requests: number;
  hits: number;
  non200: number;
  bytes: number;
  errors: number;
  reconnects: number;
  firstError: string | undefined;
  windowMs: number;
  /** Every response's latency, ms. */
  latencies: Float64Array;
  /** CPU time of the generator threads in the window, ms (all threads). */
  cpuMs: number;
}

/** A pool of load-generator threads, reused across runs. */
export class HttpLoad {
  readonly threads: number;
  readonly #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
    this.threads = workers.length;
  }

  /** Starts `threads` generator threads. */
  static async start(threads: number): Promise<HttpLoad> {
    const url = new URL('./http-load-thread.ts', import.meta.url);
    const workers = Array.from({ length: threads }, () => new Worker(url));
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('online', resolve);
            w.once('error', reject);
          }),
      ),
    );
    return new HttpLoad(workers);
  }

  /**
   * One run: `job.connections` connections in all, split over the threads;
   * resolves once the window has ended.
   */
  async run(job: LoadJob): Promise<LoadResult> {
    const per = Math.floor(job.connections / this.threads);
    const extra = job.connections % this.threads;
    const parts = await Promise.all(
      this.#workers.map(
        (w, i) =>
          new Promise<LoadThreadResult>((resolve, reject) => {
            const onError = (err: Error) => reject(err);
            w.once('error', onError);
            w.once('message', (msg: { ok: boolean; result?: LoadThreadResult; error?: string }) => {
              w.off('error', onError);
              if (msg.ok && msg.result) resolve(msg.result);
              else reject(new Error(`load thread failed: ${msg.error}`));
            });
            w.postMessage({ ...job, connections: per + (i < extra ? 1 : 0) });
          }),
      ),
    );
    const total = parts.reduce((n, p) => n + p.requests, 0);
    const latencies = new Float64Array(total);
    let at = 0;
    for (const p of parts) {
      latencies.set(p.latencies, at);
      at += p.latencies.length;
    }
    const sum = (f: (p: LoadThreadResult) => number) => parts.reduce((n, p) => n + f(p), 0);
    return {
      requests: total,
      hits: sum((p) => p.hits),
      non200: sum((p) => p.non200),
      bytes: sum((p) => p.bytes),
      errors: sum((p) => p.errors),
      reconnects: sum((p) => p.reconnects),
      firstError: parts.find((p) => p.firstError !== undefined)?.firstError,
      windowMs: job.durationMs,
      latencies,
      cpuMs: sum((p) => p.cpuMs),
    };
  }

  /** Ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
