/**
 * The render threads of the ssr-throughput bench: worker threads each
 * rendering in its own loop when asked, in plain Node (`plain-thread.ts`)
 * or straight into an isolate (`isolate-thread.ts`); see `thread-loop.ts`
 * for what they post.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import type { SandboxBundle } from './sandbox-app.ts';
import type { Run } from './ssr-figures.ts';

/**
 * Render threads, started for one app and row. Fresh threads per app: an
 * app's baseline never runs in a heap another app's renders filled (plain
 * Vue on the main thread after plain React renders half as fast, with 10 ms
 * p99s).
 */
export class LoopThreads {
  readonly #workers: Worker[];
  /** The page as the first thread rendered it. */
  html = '';

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /**
   * Plain Node: `modulePath`'s handler on `threads` threads, each warmed up
   * with `warmup` renders.
   *
   * @param backends - Origins of the backends the module fetches
   * (`backend://api/…`), if it fetches any.
   */
  static plain(
    modulePath: string,
    url: string,
    threads: number,
    warmup: number,
    backends?: Record<string, string>,
  ): Promise<LoopThreads> {
    return LoopThreads.#start('./plain-thread.ts', threads, {
      modulePath,
      url,
      warmup,
      ...(backends ? { backends } : {}),
    });
  }

  /** The runtime alone: `bundle` in a DeploymentIsolate on one thread, no worker process around it. */
  static isolate(bundle: SandboxBundle, url: string, warmup: number): Promise<LoopThreads> {
    return LoopThreads.#start('./isolate-thread.ts', 1, {
      code: bundle.code,
      bundleHash: bundle.bundleHash,
      url,
      warmup,
    });
  }

  /** Starts the threads and waits until each has warmed up. */
  static async #start(script: string, threads: number, workerData: unknown): Promise<LoopThreads> {
    const workers = Array.from(
      { length: threads },
      () => new Worker(new URL(script, import.meta.url), { workerData }),
    );
    const self = new LoopThreads(workers);
    try {
      const ready = (await Promise.all(workers.map((w) => self.#next(w)))) as Array<{
        html: string;
      }>;
      self.html = ready[0]?.html ?? '';
    } catch (err) {
      await self.stop();
      throw err;
    }
    return self;
  }

  #next(w: Worker): Promise<unknown> {
    return new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
  }

  /** Every thread renders for `durationMs`, all at once. */
  async run(durationMs: number): Promise<Run> {
    const results = this.#workers.map((w) => this.#next(w)) as Array<Promise<Run>>;
    for (const w of this.#workers) w.postMessage({ durationMs });
    const runs = await Promise.all(results);
    return {
      count: runs.reduce((n, r) => n + r.count, 0),
      elapsedMs: Math.max(...runs.map((r) => r.elapsedMs)),
      latencies: runs.flatMap((r) => r.latencies),
      stages: [],
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.terminate()));
  }
}
