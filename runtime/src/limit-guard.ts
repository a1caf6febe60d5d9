/**
 * Limits enforcement of one isolate: CPU time across a whole render (the
 * isolate's `cpuTime`, sampled: isolated-vm's `timeout` counts wall time,
 * which a busy machine stretches, and only bounds one synchronous run), wall
 * time, the heap, and the kill that follows: the isolate is disposed, the
 * render that broke the limit fails with its code and every other render
 * running in the isolate with a note that another render caused it.
 */
import { type ErrorCode, FlotillaError } from '@flotilla/protocol';
import type ivm from 'isolated-vm';
import type { SandboxLimits } from './limits.ts';
import { noteCpuHog } from './sync-policy.ts';

/** Why an isolate was disposed while renders were running. */
export interface KillReason {
  code: ErrorCode;
  message: string;
}

/** Fails one running render: its entry in the guard. */
export type FailRender = (reason: KillReason) => void;

/** CPU bookkeeping of one running render. */
interface RenderCpu {
  cpuStart: bigint;
  /** The process's CPU time when it started ({@link processCpuMs}). */
  processStart: number;
  /** Most renders running at once while this one ran: its fair share of the isolate's CPU. */
  overlap: number;
}

/**
 * CPU time the whole process has used, in ms (every thread). An upper bound
 * of any one isolate's CPU over the same span: see {@link LimitGuard} on why
 * the CPU watch needs one.
 */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** How often running renders' CPU is checked: often enough to stop one near `cpuMs`. */
const CPU_CHECK_MS = (cpuMs: number) => Math.min(100, Math.max(5, Math.floor(cpuMs / 4)));

/**
 * The CPU (ms) an isolate used since `cpuStart`, as the CPU watch reads it
 * while the isolate may be running on an isolated-vm pool thread. isolated-vm's
 * `cpuTime` is no CPU clock in the build Flotilla runs (measured: it advances
 * with the wall clock while the isolate runs, 4955 ms for a run that got 934
 * ms of CPU on a loaded machine), so it only bounds the CPU from above. The
 * process's own CPU over the same span (every thread, from the kernel) is a
 * second upper bound that other processes' load does not move; the smaller
 * of the two is taken. A synchronous run is measured exactly instead (the
 * calling thread's CPU: see `DeploymentIsolate`).
 */
export function used(
  now: bigint,
  cpuStart: bigint,
  processNow: number,
  processStart: number,
): number {
  return Math.min(Number(now - cpuStart) / 1e6, processNow - processStart);
}

/** True when a call into `isolate` failed because its heap ran out. */
export function isMemoryError(err: unknown, isolate: ivm.Isolate): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /memory limit/i.test(message) || (isolate.isDisposed && /disposed/i.test(message));
}

/**
 * The `timeout` of a synchronous call into an isolate (the thread is
 * blocked, so no CPU sample can stop it): a wall-clock backstop at the CPU
 * limit plus as much again, at least 1 s more (at most the wall limit), so
 * that a run it stops has used more than `cpuMs` of CPU unless the machine
 * gave it well under half a core. It is told by the CPU the thread actually
 * used (see {@link LimitGuard.failure}): `FLOTILLA_ERR_CPU_LIMIT` past
 * `cpuMs`, `FLOTILLA_ERR_WALL_LIMIT` under it. Only renders that have been
 * short run synchronously (sync-policy.ts), and a deployment that hit the
 * CPU limit never again on that thread, so the backstop blocks a thread
 * once per deployment at most.
 */
export function syncTimeoutMs(limits: SandboxLimits): number {
  return Math.min(limits.wallMs, limits.cpuMs + Math.max(limits.cpuMs, 1000));
}

/** True when a call into an isolate ran past its `timeout`. */
export function isTimeout(err: unknown): boolean {
  return err instanceof Error && /Script execution timed out/.test(err.message);
}

/** What a {@link LimitGuard} needs of the isolate it guards. */
export interface Guarded {
  isolate: ivm.Isolate;
  deploymentId: string;
  limits: SandboxLimits;
  /** True once the owner disposed the isolate. */
  disposed: () => boolean;
  /** Disposes the isolate (its renders have failed already). */
  dispose: () => void;
}

/** Keeps the renders of one isolate within their limits; kills the isolate past one. */
export class LimitGuard {
  readonly #isolate: ivm.Isolate;
  readonly #deploymentId: string;
  readonly #limits: SandboxLimits;
  readonly #disposed: () => boolean;
  readonly #dispose: () => void;
  /** Timer callbacks running in the isolate now (each settles after its limit checks). */
  readonly #firing = new Set<Promise<void>>();
  /** The isolate's CPU time when each call {@link enterGuest} tracks began, and what it runs. */
  readonly #entered = new Map<
    Promise<void>,
    { cpuStart: bigint; processStart: number; what: string }
  >();
  /** Render calls into the isolate (`dispatch`, `wait`) not answered yet. */
  readonly #calls = new Set<Promise<unknown>>();
  /**
   * Renders running in the isolate: the function that fails each, the
   * isolate's CPU time when it started, and how many renders it overlapped.
   */
  readonly #running = new Map<FailRender, RenderCpu>();
  /** Checks CPU per render while any runs (the `timeout` option only covers one synchronous run). */
  #cpuWatch: NodeJS.Timeout | undefined;
  #killed: KillReason | undefined;

  constructor(guarded: Guarded) {
    this.#isolate = guarded.isolate;
    this.#deploymentId = guarded.deploymentId;
    this.#limits = guarded.limits;
    this.#disposed = guarded.disposed;
    this.#dispose = guarded.dispose;
  }

  /** The `timeout` of a synchronous call into the isolate ({@link syncTimeoutMs}). */
  get syncTimeoutMs(): number {
    return syncTimeoutMs(this.#limits);
  }

  /**
   * True when `err`, thrown by a call into the isolate, is none of the
   * limits (timeout, heap, disposal) and no kill is under way: isolated-vm
   * then threw a promise rejection the guest left unhandled.
   */
  isRejection(err: unknown): boolean {
    return (
      this.#killed === undefined &&
      !this.#disposed() &&
      !this.#isolate.isDisposed &&
      !isTimeout(err) &&
      !isMemoryError(err, this.#isolate)
    );
  }

  /** Renders running in the isolate now (asynchronously: a synchronous render is not counted). */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Tracks a call from the host into the isolate outside any render's
   * dispatch (a timer firing, a fetch answer). Each such call (and the
   * microtasks it runs, such as the rest of an awaiting render) gets the CPU
   * limit; past it the isolate is killed and the renders waiting in it fail
   * with FLOTILLA_ERR_CPU_LIMIT.
   */
  enterGuest(call: Promise<unknown>, what: string): void {
    const firing = call.then(
      () => {},
      (err: unknown) => {
        if (this.#disposed()) return;
        if (isTimeout(err)) {
          // The CPU watch holds these calls to `cpuMs`; their timeout is the wall limit.
          this.kill({
            code: 'FLOTILLA_ERR_WALL_LIMIT',
            message: `render of ${this.#deploymentId} ran for more than ${this.#limits.wallMs} ms (wall time) in ${what}; isolate disposed`,
          });
        } else if (isMemoryError(err, this.#isolate)) {
          this.kill({
            code: 'FLOTILLA_ERR_MEMORY_LIMIT',
            message: `render of ${this.#deploymentId} exceeded the ${this.#limits.heapMb} MB heap; isolate disposed`,
          });
        }
      },
    );
    this.#firing.add(firing);
    if (!this.#isolate.isDisposed) {
      this.#entered.set(firing, {
        cpuStart: this.#isolate.cpuTime,
        processStart: processCpuMs(),
        what,
      });
      this.#watchCpu();
    }
    void firing.finally(() => {
      this.#firing.delete(firing);
      this.#entered.delete(firing);
      if (this.#running.size === 0 && this.#entered.size === 0) this.stop();
    });
  }

  /**
   * Holds a render that goes on asynchronously to the CPU watch and to its
   * wall limit, counted from `startedAt` (`performance.now()`). Returns the
   * wall timer, for {@link end}.
   *
   * @param cpuStart the isolate's CPU time before the render started.
   */
  begin(fail: FailRender, cpuStart: bigint, startedAt: number): NodeJS.Timeout {
    this.#running.set(fail, { cpuStart, processStart: processCpuMs(), overlap: 1 });
    const overlap = this.#running.size;
    for (const cpu of this.#running.values()) cpu.overlap = Math.max(cpu.overlap, overlap);
    this.#watchCpu();
    return setTimeout(
      () =>
        this.kill(
          {
            code: 'FLOTILLA_ERR_WALL_LIMIT',
            message: `render of ${this.#deploymentId} took longer than ${this.#limits.wallMs} ms (wall time); isolate disposed`,
          },
          fail,
        ),
      // Less what the synchronous part of the render took.
      Math.max(0, this.#limits.wallMs - (performance.now() - startedAt)),
    );
  }

  /** Tracks a render call into the isolate until it answers (see {@link quiesce}). */
  track(pending: Promise<unknown>): void {
    this.#calls.add(pending);
    void pending.then(
      () => this.#calls.delete(pending),
      () => this.#calls.delete(pending),
    );
  }

  /** A render {@link begin} held has ended. */
  end(fail: FailRender, wall: NodeJS.Timeout): void {
    clearTimeout(wall);
    this.#running.delete(fail);
    if (this.#running.size === 0 && this.#entered.size === 0) this.stop();
  }

  /** Starts the CPU watch unless it runs. */
  #watchCpu(): void {
    this.#cpuWatch ??= setInterval(() => this.#checkCpu(), CPU_CHECK_MS(this.#limits.cpuMs));
    this.#cpuWatch.unref();
  }

  /** Stops the CPU watch (no render runs, or the isolate is going away). */
  stop(): void {
    clearInterval(this.#cpuWatch);
    this.#cpuWatch = undefined;
  }

  /**
   * A render ran synchronously, alone in the isolate, since `cpuStart`,
   * using `cpuMs` of this thread's CPU: that is not the renders' waiting in
   * the isolate meanwhile.
   */
  ranAlone(cpuStart: bigint, cpuMs: number): void {
    if (this.#running.size === 0 || this.#isolate.isDisposed) return;
    const ran = this.#isolate.cpuTime - cpuStart;
    for (const cpu of this.#running.values()) {
      cpu.cpuStart += ran;
      cpu.processStart += cpuMs;
    }
  }

  /**
   * The error a render fails with after a call into the isolate threw `err`,
   * disposing the isolate when `err` is a limit. `fail` is the render's entry
   * in the guard, if it has one.
   */
  async failure(err: unknown, fail?: FailRender, syncCpuMs?: number): Promise<Error> {
    // Read now: a kill below drops the render's CPU record.
    const cpu = fail === undefined ? undefined : this.#running.get(fail);
    const usedMs =
      syncCpuMs ??
      (cpu === undefined || this.#isolate.isDisposed
        ? 0
        : used(this.#isolate.cpuTime, cpu.cpuStart, processCpuMs(), cpu.processStart));
    if (err instanceof FlotillaError) return err;
    // A timer callback that hits a limit terminates the isolate's execution,
    // which rejects this render ("Promise was abandoned") possibly before
    // that callback's own failure, which names the limit, has been handled.
    if (this.#firing.size > 0) await Promise.allSettled([...this.#firing]);
    if (this.#killed) return this.#victimError(this.#killed);
    if (isTimeout(err)) {
      // A wall-clock backstop: the CPU the render used says whether it was
      // the CPU limit, or a machine too busy to give it the time.
      const reason: KillReason =
        usedMs >= this.#limits.cpuMs
          ? {
              code: 'FLOTILLA_ERR_CPU_LIMIT',
              message: `render of ${this.#deploymentId} used more than ${this.#limits.cpuMs} ms of CPU; isolate disposed`,
            }
          : {
              code: 'FLOTILLA_ERR_WALL_LIMIT',
              message: `render of ${this.#deploymentId} ran without yielding past the wall-clock backstop (${Math.round(usedMs)} ms of CPU, under its ${this.#limits.cpuMs} ms limit: the machine is busy); isolate disposed`,
            };
      this.kill(reason, fail);
      return new FlotillaError(reason.code, reason.message);
    }
    if (isMemoryError(err, this.#isolate)) {
      const reason: KillReason = {
        code: 'FLOTILLA_ERR_MEMORY_LIMIT',
        message: `render of ${this.#deploymentId} exceeded the ${this.#limits.heapMb} MB heap; isolate disposed`,
      };
      this.kill(reason, fail);
      return new FlotillaError(reason.code, reason.message);
    }
    return new FlotillaError(
      'FLOTILLA_ERR_RENDER',
      `render of ${this.#deploymentId} failed: ${(err as Error).message}`,
      { cause: err },
    );
  }

  /**
   * After the isolate was disposed under running calls: waits (at most 1 s)
   * until they have answered. isolated-vm answers each on this thread once
   * the isolate has unwound, and a thread torn down before that (a worker
   * draining) takes the whole process down (`std::terminate`).
   */
  async quiesce(): Promise<void> {
    const pending = [...this.#calls, ...this.#firing];
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 1000);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Kills the isolate when a render used more than its share of `cpuMs`, across every await. */
  #checkCpu(): void {
    if (this.#disposed() || this.#isolate.isDisposed) return;
    const now = this.#isolate.cpuTime;
    // A call from the host (a timer, a fetch answer) runs alone in the
    // isolate while it is in flight: the CPU since it began is its own.
    const processNow = processCpuMs();
    for (const entry of this.#entered.values()) {
      if (used(now, entry.cpuStart, processNow, entry.processStart) > this.#limits.cpuMs) {
        this.kill({
          code: 'FLOTILLA_ERR_CPU_LIMIT',
          message: `render of ${this.#deploymentId} used more than ${this.#limits.cpuMs} ms of CPU in ${entry.what}; isolate disposed`,
        });
        return;
      }
    }
    for (const [fail, cpu] of this.#running) {
      const usedMs = used(now, cpu.cpuStart, processNow, cpu.processStart) / cpu.overlap;
      if (usedMs > this.#limits.cpuMs) {
        // The isolate's CPU time is not split by render: with several
        // running, none is named the culprit (each gets the note that the
        // isolate was disposed under it).
        this.kill(
          {
            code: 'FLOTILLA_ERR_CPU_LIMIT',
            message: `render of ${this.#deploymentId} used more than ${this.#limits.cpuMs} ms of CPU; isolate disposed`,
          },
          this.#running.size === 1 ? fail : undefined,
        );
        return;
      }
    }
  }

  #victimError(reason: KillReason): FlotillaError {
    return new FlotillaError(
      reason.code,
      `isolate of ${this.#deploymentId} was disposed while this render ran: ${reason.message}`,
    );
  }

  /**
   * Disposes the isolate because of `reason`: the `culprit` render fails with
   * it, every other render running in the isolate with a note that it was
   * cut short by another.
   */
  kill(reason: KillReason, culprit?: FailRender): void {
    if (this.#disposed()) return;
    this.#killed = reason;
    // A run the CPU limit (or the wall-clock backstop of a synchronous run) stopped.
    if (reason.code === 'FLOTILLA_ERR_CPU_LIMIT' || reason.code === 'FLOTILLA_ERR_WALL_LIMIT') {
      noteCpuHog(this.#deploymentId);
    }
    for (const fail of this.#running.keys()) {
      if (fail === culprit) fail(reason);
      else fail({ code: reason.code, message: this.#victimError(reason).message });
    }
    this.#running.clear();
    this.#dispose();
  }
}
