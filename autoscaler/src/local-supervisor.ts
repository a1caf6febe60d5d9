import { InvalidOptionError, type LogFn, nonNegativeInt, positiveInt } from '@flotilla/protocol';
import type { Actuator, ScrapeTarget } from './actuator.ts';
import { fn, requiredFn } from './options.ts';
import {
  type FleetWorkerCommandOptions,
  fleetWorkerCommand,
  type LaunchedWorker,
  processLauncher,
  type WorkerExit,
  type WorkerLauncher,
} from './worker-launcher.ts';

/** Options of {@link LocalSupervisor}. */
export interface LocalSupervisorOptions {
  /**
   * Starts one worker.
   * @default processLauncher({ command: fleetWorkerCommand(options.fleet) }) — a fleet worker role process
   */
  launcher?: WorkerLauncher;
  /** What the default launcher starts; required unless `launcher` is given. */
  fleet?: FleetWorkerCommandOptions;
  /**
   * Never fewer workers than this while actuating (≥ 1).
   * @default 2
   */
  minWorkers?: number;
  /**
   * Never more workers than this; ≥ minWorkers.
   * @default 10
   */
  maxWorkers?: number;
  /**
   * Delay before replacing a worker that crashed (or never got ready); it
   * doubles with each crash in a row, up to `maxRestartDelayMs`.
   * @default 1000
   */
  restartDelayMs?: number;
  /**
   * Longest delay between restarts of crashing workers.
   * @default 30000
   */
  maxRestartDelayMs?: number;
  /**
   * A worker that ran this long before crashing resets the crash streak.
   * @default 10000
   */
  stableAfterMs?: number;
  /**
   * After {@link LocalSupervisor.standby}, keep the workers this long (the new
   * leader starts its own meanwhile), then drain them all; 0 drains at once.
   * @default 30000
   */
  standbyGraceMs?: number;
  /**
   * Initial target: start this many workers right away (before any decision);
   * clamped to [minWorkers, maxWorkers]. 0 starts nothing until
   * {@link LocalSupervisor.scale}. Only for a supervisor that always leads
   * (no lease, e.g. the embedded fleet): with a lease, let the leader's first
   * decision start the workers, or every replica would start its own.
   * @default 0
   */
  initialWorkers?: number;
  /** Structured log sink for progress lines. @default no logging */
  log?: LogFn;
  /** Monotonic clock, ms. @default performance.now */
  clock?: () => number;
}

/** A worker the supervisor tracks. */
interface Child {
  serial: number;
  worker: LaunchedWorker;
  state: 'starting' | 'ready' | 'draining';
  startedAt: number;
  readyAt: number | undefined;
}

/** What the supervisor runs now. */
export interface SupervisorStatus {
  /** Workers it aims for. */
  target: number;
  /** Started, not ready yet. */
  starting: number;
  /** Ready. */
  ready: number;
  /** Told to drain, not exited yet. */
  draining: number;
  /** Workers that crashed or failed to start since the supervisor began. */
  crashes: number;
  /** True after {@link LocalSupervisor.standby} until the next {@link LocalSupervisor.scale}. */
  standby: boolean;
}

/**
 * The local actuator: starts and drains worker processes on this machine to
 * reach the desired count.
 *
 * - Scale up: launches workers and waits for their ready line.
 * - Scale down: SIGTERMs the newest workers (they drain, finishing in-flight
 *   renders) and waits for them to exit.
 * - A worker that crashes (or never gets ready) is replaced after a delay
 *   that doubles while crashes continue.
 * - Never below `minWorkers` nor above `maxWorkers` while actuating;
 *   {@link LocalSupervisor.close} drains all.
 *
 * @example
 * const supervisor = new LocalSupervisor({
 *   fleet: { nats: 'nats://127.0.0.1:4222', region: 'us-east', storeDir, bin: FLEET_BIN },
 *   minWorkers: 2, maxWorkers: 8, log,
 * });
 * supervisor.scale(2);
 * await supervisor.whenSettled(30_000);
 */
export class LocalSupervisor implements Actuator {
  readonly kind = 'local';
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly #launch: WorkerLauncher;
  readonly #restartDelayMs: number;
  readonly #maxRestartDelayMs: number;
  readonly #stableAfterMs: number;
  readonly #standbyGraceMs: number;
  readonly #log: LogFn;
  readonly #clock: () => number;
  readonly #children = new Set<Child>();
  readonly #waiters = new Set<() => void>();
  #target = 0;
  #serial = 0;
  #crashes = 0;
  #crashStreak = 0;
  #nextSpawnAt = 0;
  #spawnTimer: NodeJS.Timeout | undefined;
  #standby = false;
  #standbyTimer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: LocalSupervisorOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'must be an object');
    }
    this.minWorkers = positiveInt('minWorkers', options.minWorkers, 2);
    this.maxWorkers = positiveInt('maxWorkers', options.maxWorkers, Math.max(10, this.minWorkers));
    if (this.maxWorkers < this.minWorkers) {
      throw new InvalidOptionError(
        'maxWorkers',
        `must be at least minWorkers (${this.minWorkers}), got ${this.maxWorkers}`,
      );
    }
    if (options.launcher !== undefined) {
      this.#launch = requiredFn('launcher', options.launcher);
    } else {
      if (options.fleet === undefined) {
        throw new InvalidOptionError('fleet', 'is required when no launcher is given');
      }
      this.#launch = processLauncher({ command: fleetWorkerCommand(options.fleet) });
    }
    this.#restartDelayMs = positiveInt('restartDelayMs', options.restartDelayMs, 1000);
    this.#maxRestartDelayMs = positiveInt(
      'maxRestartDelayMs',
      options.maxRestartDelayMs,
      Math.max(30_000, this.#restartDelayMs),
    );
    if (this.#maxRestartDelayMs < this.#restartDelayMs) {
      throw new InvalidOptionError(
        'maxRestartDelayMs',
        `must be at least restartDelayMs (${this.#restartDelayMs}), got ${this.#maxRestartDelayMs}`,
      );
    }
    this.#stableAfterMs = nonNegativeInt('stableAfterMs', options.stableAfterMs, 10_000);
    this.#standbyGraceMs = nonNegativeInt('standbyGraceMs', options.standbyGraceMs, 30_000);
    this.#log = fn('log', options.log, () => {});
    this.#clock = fn('clock', options.clock, () => performance.now());
    const initial = nonNegativeInt('initialWorkers', options.initialWorkers, 0);
    if (initial > 0) this.scale(initial);
  }

  /** Aims for `desired` workers, clamped to [minWorkers, maxWorkers]. Ignored after close. */
  scale(desired: number): void {
    if (this.#closed) return;
    if (typeof desired !== 'number' || Number.isNaN(desired)) {
      throw new InvalidOptionError('desired', `must be a number, got ${String(desired)}`);
    }
    const target = Math.min(this.maxWorkers, Math.max(this.minWorkers, Math.round(desired)));
    if (this.#standby) {
      this.#standby = false;
      clearTimeout(this.#standbyTimer);
      this.#log({ msg: 'supervisor actuating again' });
    }
    if (target !== this.#target) {
      this.#log({ msg: 'scaling workers', from: this.#target, to: target });
      this.#target = target;
    }
    this.#reconcile();
  }

  /**
   * Stops following decisions: starts no new worker, and after
   * `standbyGraceMs` drains every worker it started (the new leader runs
   * its own). A later {@link LocalSupervisor.scale} cancels the drain.
   */
  standby(): void {
    if (this.#closed || this.#standby) return;
    this.#standby = true;
    this.#log({ msg: 'supervisor on standby', drainInMs: this.#standbyGraceMs });
    clearTimeout(this.#standbyTimer);
    this.#standbyTimer = setTimeout(() => {
      if (!this.#standby || this.#closed) return;
      this.#target = 0;
      this.#reconcile();
    }, this.#standbyGraceMs);
    this.#standbyTimer.unref();
  }

  /** Counts of the workers by state. */
  status(): SupervisorStatus {
    let starting = 0;
    let ready = 0;
    let draining = 0;
    for (const c of this.#children) {
      if (c.state === 'starting') starting++;
      else if (c.state === 'ready') ready++;
      else draining++;
    }
    return {
      target: this.#target,
      starting,
      ready,
      draining,
      crashes: this.#crashes,
      standby: this.#standby,
    };
  }

  /** Labels of the workers that are ready, oldest first. */
  readyWorkers(): string[] {
    return [...this.#children].filter((c) => c.state === 'ready').map((c) => c.worker.label);
  }

  /**
   * The running workers whose ready line named an admin URL (ready ones and
   * those still draining), oldest first: what the scheduler's `/http-sd`
   * lists for Prometheus.
   */
  scrapeTargets(): ScrapeTarget[] {
    const out: ScrapeTarget[] = [];
    for (const c of [...this.#children].sort((a, b) => a.serial - b.serial)) {
      const adminUrl = c.worker.adminUrl;
      if (c.state === 'starting' || adminUrl === undefined) continue;
      out.push({ adminUrl, workerId: c.worker.workerId, label: c.worker.label, state: c.state });
    }
    return out;
  }

  /**
   * Resolves once exactly the target count is ready and none is starting or
   * draining; rejects after `timeoutMs`.
   */
  whenSettled(timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const s = this.status();
        if (s.ready === s.target && s.starting === 0 && s.draining === 0) {
          this.#waiters.delete(check);
          clearTimeout(timer);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const s = this.status();
        reject(
          new Error(
            `workers not settled within ${timeoutMs} ms: target ${s.target}, ready ${s.ready}, starting ${s.starting}, draining ${s.draining}`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.#waiters.add(check);
      check();
    });
  }

  /** Drains every worker and waits until all have exited. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearTimeout(this.#spawnTimer);
      clearTimeout(this.#standbyTimer);
      this.#target = 0;
      this.#log({ msg: 'supervisor closing', workers: this.#children.size });
      for (const c of this.#children) this.#drain(c);
      await Promise.all([...this.#children].map((c) => c.worker.exited));
      this.#notify();
    })();
    return this.#closed;
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  #reconcile(): void {
    const active = [...this.#children].filter((c) => c.state !== 'draining');
    if (active.length > this.#target) {
      // Newest first: the oldest workers are the warmest.
      active.sort((a, b) => b.serial - a.serial);
      for (const c of active.slice(0, active.length - this.#target)) this.#drain(c);
    } else if (active.length < this.#target && !this.#closed && !this.#standby) {
      const wait = this.#nextSpawnAt - this.#clock();
      if (wait > 0) {
        if (this.#spawnTimer === undefined) {
          this.#spawnTimer = setTimeout(() => {
            this.#spawnTimer = undefined;
            this.#reconcile();
          }, Math.ceil(wait));
          this.#spawnTimer.unref();
        }
      } else {
        for (let i = active.length; i < this.#target; i++) this.#spawn();
      }
    }
    this.#notify();
  }

  #spawn(): void {
    const serial = ++this.#serial;
    const startedAt = this.#clock();
    let worker: LaunchedWorker;
    try {
      worker = this.#launch(serial);
    } catch (err) {
      this.#log({ msg: 'worker launch failed', serial, error: (err as Error).message });
      this.#crashed(undefined);
      return;
    }
    const child: Child = { serial, worker, state: 'starting', startedAt, readyAt: undefined };
    this.#children.add(child);
    this.#log({ msg: 'worker starting', worker: worker.label });
    worker.ready.then(
      () => {
        if (child.state !== 'starting') return;
        child.state = 'ready';
        child.readyAt = this.#clock();
        this.#crashStreak = 0;
        this.#log({
          msg: 'worker ready',
          worker: worker.label,
          ms: Math.round(child.readyAt - startedAt),
        });
        this.#reconcile();
      },
      (err: unknown) => {
        if (child.state === 'draining') return;
        this.#log({ msg: 'worker failed to start', worker: worker.label, error: String(err) });
        worker.kill();
      },
    );
    void worker.exited.then((exit) => this.#exited(child, exit));
  }

  #drain(c: Child): void {
    if (c.state === 'draining') return;
    c.state = 'draining';
    this.#log({ msg: 'worker draining', worker: c.worker.label });
    c.worker.stop();
  }

  #exited(c: Child, exit: WorkerExit): void {
    this.#children.delete(c);
    const how = exit.signal ?? `code ${exit.code}`;
    const ranMs = Math.round(this.#clock() - c.startedAt);
    if (c.state === 'draining') {
      const clean = exit.code === 0;
      this.#log({
        msg: clean ? 'worker exited' : 'worker exited uncleanly',
        worker: c.worker.label,
        exit: how,
        ms: ranMs,
      });
    } else {
      const tail = c.worker.tail;
      this.#log({
        msg: 'worker crashed',
        worker: c.worker.label,
        exit: how,
        ms: ranMs,
        ...(tail ? { output: tail } : {}),
      });
      this.#crashed(c.readyAt);
    }
    this.#reconcile();
  }

  #crashed(readyAt: number | undefined): void {
    this.#crashes++;
    const now = this.#clock();
    const ranStably = readyAt !== undefined && now - readyAt >= this.#stableAfterMs;
    this.#crashStreak = ranStably ? 1 : this.#crashStreak + 1;
    const delay = Math.min(
      this.#maxRestartDelayMs,
      this.#restartDelayMs * 2 ** Math.max(0, this.#crashStreak - 1),
    );
    this.#nextSpawnAt = Math.max(this.#nextSpawnAt, now + delay);
  }
}
