/**
 * Which renders may run synchronously on the calling thread. While one does,
 * the thread does nothing else, so the renders of other deployments on the
 * thread wait for it (an asynchronous render runs on an isolated-vm pool
 * thread beside them): only renders that have been short may. Sync saves
 * some tens of µs a render (a hop to that pool thread and back), which
 * matters only for short ones anyway. See `runtime/README.md`, "How a
 * render runs".
 */

/** Short: under this much CPU (ms). */
const SYNC_RENDER_MAX_CPU_MS = 10;
/** Renders under {@link SYNC_RENDER_MAX_CPU_MS} an isolate completes (after a longer one) before rendering synchronously. */
const SYNC_AFTER_SHORT_RENDERS = 32;
/**
 * Deployments whose render hit the CPU limit in this thread: they never
 * render synchronously here again, so that a bundle cannot stall the thread
 * repeatedly (once per fresh isolate). Bounded; oldest forgotten first.
 */
const cpuHogs = new Set<string>();
const MAX_CPU_HOGS = 4096;

/** A render of `deploymentId` hit the CPU limit on this thread. */
export function noteCpuHog(deploymentId: string): void {
  cpuHogs.delete(deploymentId);
  cpuHogs.add(deploymentId);
  for (const oldest of cpuHogs) {
    if (cpuHogs.size <= MAX_CPU_HOGS) break;
    cpuHogs.delete(oldest);
  }
}

/** The synchronous-render policy of one isolate. */
export class SyncPolicy {
  readonly #deploymentId: string;
  /** The longest one synchronous run may hold the thread (its `timeout`). */
  readonly #runMs: number;
  readonly #wallMs: number;
  /**
   * Short renders to complete before rendering synchronously again; a fresh
   * isolate renders asynchronously until its first render completed.
   */
  #shortBeforeSync = 1;
  /** True once a render completed (with a result, an error result included). */
  #warm = false;

  /**
   * @param runMs the `timeout` of a synchronous call (`syncTimeoutMs` in
   * limit-guard.ts): the longest a synchronous run may hold the thread.
   */
  constructor(deploymentId: string, runMs: number, wallMs: number) {
    this.#deploymentId = deploymentId;
    this.#runMs = runMs;
    this.#wallMs = wallMs;
  }

  /**
   * Synchronously when the isolate's renders have been short, and when the
   * render cannot outlast its deadline or wall limit before the synchronous
   * call's timeout stops it: the thread is blocked meanwhile, so neither of their timers
   * could fire.
   *
   * @param remainingMs time to the render's deadline (Infinity for none).
   */
  allows(remainingMs: number): boolean {
    return (
      this.#shortBeforeSync === 0 &&
      this.#runMs <= Math.min(remainingMs, this.#wallMs) &&
      !cpuHogs.has(this.#deploymentId)
    );
  }

  /** A render completed (with a result) after using `cpuMs` of the isolate's CPU. */
  completed(cpuMs: number): void {
    // A fresh isolate's first render is slow anyway (lazy setup, cold code).
    // For the others, cpuMs is approximate when asynchronous (other renders'
    // CPU counts too): it errs towards asynchronous.
    if (!this.#warm) {
      this.#warm = true;
      this.#shortBeforeSync = 0;
    } else if (cpuMs > SYNC_RENDER_MAX_CPU_MS) {
      this.#shortBeforeSync = SYNC_AFTER_SHORT_RENDERS;
    } else if (this.#shortBeforeSync > 0) {
      this.#shortBeforeSync--;
    }
  }
}
