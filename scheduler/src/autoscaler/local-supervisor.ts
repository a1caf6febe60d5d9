import { type ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { join } from 'node:path';
import {
  InvalidOptionError,
  isSubjectToken,
  nonEmptyString,
  nonNegativeInt,
  positiveInt,
} from '@flotilla/protocol';
import type { Actuator } from './actuator.ts';
import { fn, requiredFn } from './options.ts';

/** How a worker ended. */
export interface WorkerExit {
  /** Exit code, or `null` when ended by a signal. */
  code: number | null;
  /** The signal that ended it, or `null`. */
  signal: NodeJS.Signals | null;
}

/** A worker the supervisor started (an OS process, or anything that behaves like one). */
export interface LaunchedWorker {
  /** Label for logs, e.g. `pid 4242`. */
  readonly label: string;
  /** Resolves once the worker takes work; rejects when it fails to get there. */
  readonly ready: Promise<void>;
  /** Resolves when the worker has ended, whichever way; never rejects. */
  readonly exited: Promise<WorkerExit>;
  /** Asks the worker to drain (finish in-flight work) and exit. */
  stop(): void;
  /** Ends the worker at once. */
  kill(): void;
  /** The last lines the worker printed, for failure reports. */
  readonly tail?: string;
}

/** Starts worker number `serial` (1, 2, …). */
export type WorkerLauncher = (serial: number) => LaunchedWorker;

/** A command line that starts one worker process. */
export interface WorkerCommand {
  command: string;
  args: string[];
  /** Environment, merged over the supervisor's. @default the supervisor's */
  env?: NodeJS.ProcessEnv;
  /** Working directory. @default the supervisor's */
  cwd?: string;
}

/** Node flags of every process that hosts isolates (see RUNTIME-NOTES.md). */
export const WORKER_NODE_FLAGS: readonly string[] = [
  '--no-node-snapshot',
  '--max-semi-space-size=16',
  '--initial-old-space-size=64',
];

/** Options of {@link fleetWorkerCommand}. */
export interface FleetWorkerCommandOptions {
  /** NATS server URL(s) the workers connect to. */
  nats: string;
  /**
   * Path of the `flotilla` CLI script (`fleet/src/bin.ts`).
   * @default process.argv[1] (the script this process was started with)
   */
  bin?: string;
  /**
   * Region of the workers.
   * @default 'local'
   */
  region?: string;
  /**
   * Local deployment store of the workers.
   * @default '.flotilla/store' under the current directory
   */
  storeDir?: string;
  /**
   * piscina threads per worker.
   * @default the worker role's default (os.availableParallelism())
   */
  threads?: number;
  /**
   * Node executable.
   * @default process.execPath
   */
  node?: string;
  /**
   * Node flags.
   * @default {@link WORKER_NODE_FLAGS}
   */
  nodeFlags?: readonly string[];
  /**
   * More `flotilla start` arguments (e.g. `['--heartbeat-ms', '500']`).
   * @default []
   */
  extraArgs?: readonly string[];
}

/**
 * The command of a fleet worker role:
 * `node --no-node-snapshot … <bin> start --nats <url> --role worker --region <r>
 * --store <dir> --no-examples [--threads N] …extraArgs`. It prints
 * `flotilla worker ready: … on <admin url>` and drains and exits 0 on SIGTERM.
 */
export function fleetWorkerCommand(options: FleetWorkerCommandOptions): () => WorkerCommand {
  const nats = nonEmptyString('nats', options?.nats);
  const bin = nonEmptyString('bin', options.bin ?? process.argv[1]);
  const region = options.region ?? 'local';
  if (!isSubjectToken(region)) {
    throw new InvalidOptionError(
      'region',
      `must be lower-case letters, digits and dashes, got ${JSON.stringify(region)}`,
    );
  }
  const storeDir = nonEmptyString(
    'storeDir',
    options.storeDir,
    join(process.cwd(), '.flotilla', 'store'),
  );
  const threads =
    options.threads === undefined ? undefined : positiveInt('threads', options.threads, 1);
  const node = nonEmptyString('node', options.node, process.execPath);
  const args = [
    ...(options.nodeFlags ?? WORKER_NODE_FLAGS),
    bin,
    'start',
    '--nats',
    nats,
    '--role',
    'worker',
    '--region',
    region,
    '--store',
    storeDir,
    '--no-examples',
    ...(threads === undefined ? [] : ['--threads', String(threads)]),
    ...(options.extraArgs ?? []),
  ];
  return () => ({ command: node, args: [...args] });
}

/** Options of {@link processLauncher}. */
export interface ProcessLauncherOptions {
  /** Builds the command of worker `serial`. */
  command: (serial: number) => WorkerCommand;
  /**
   * A line of the worker's stdout or stderr that means it is ready.
   * @default /^flotilla worker ready: /
   */
  readyPattern?: RegExp;
  /**
   * A worker not ready after this long is killed (and counts as a crash).
   * @default 30000
   */
  readyTimeoutMs?: number;
  /**
   * A draining worker still alive this long after SIGTERM is SIGKILLed.
   * @default 30000
   */
  drainTimeoutMs?: number;
  /**
   * Receives each line the worker prints. @default discard (the last lines
   * are still reported when a worker fails)
   */
  onOutput?: (line: string, worker: string) => void;
  /** `child_process.spawn`, for tests. @default node:child_process spawn */
  spawn?: typeof nodeSpawn;
}

/** Lines of output kept per worker for failure reports. */
const TAIL_LINES = 20;

/** Children still alive, SIGTERMed when this process exits. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) {
        try {
          c.kill('SIGTERM');
        } catch {
          // gone
        }
      }
    });
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** A worker process that failed before it became ready. */
export class WorkerStartError extends Error {
  /** The last lines the worker printed. */
  readonly output: string;
  constructor(message: string, output: string) {
    super(output ? `${message}; last output:\n${output}` : message);
    this.name = 'WorkerStartError';
    this.output = output;
  }
}

/**
 * Launches workers as OS processes: ready when a line matches
 * `readyPattern`; `stop()` sends SIGTERM (SIGKILL after `drainTimeoutMs`).
 * Their stdin is a pipe that is never written, so a worker can notice that
 * its supervisor died (EOF). Children still alive when this process exits
 * are sent SIGTERM.
 */
export function processLauncher(options: ProcessLauncherOptions): WorkerLauncher {
  const build = requiredFn('command', options?.command);
  const readyPattern = options.readyPattern ?? /^flotilla worker ready: /;
  if (!(readyPattern instanceof RegExp)) {
    throw new InvalidOptionError('readyPattern', 'must be a RegExp');
  }
  const readyTimeoutMs = positiveInt('readyTimeoutMs', options.readyTimeoutMs, 30_000);
  const drainTimeoutMs = positiveInt('drainTimeoutMs', options.drainTimeoutMs, 30_000);
  const onOutput = fn('onOutput', options.onOutput, () => {});
  const spawn = fn('spawn', options.spawn, nodeSpawn);

  return (serial) => {
    const cmd = build(serial);
    const tail: string[] = [];
    const child = spawn(cmd.command, cmd.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(cmd.env ? { env: { ...process.env, ...cmd.env } } : {}),
      ...(cmd.cwd ? { cwd: cmd.cwd } : {}),
    });
    trackChild(child);
    child.stdin?.on('error', () => {});
    const label = child.pid === undefined ? `#${serial}` : `#${serial} pid ${child.pid}`;
    let spawnError: Error | undefined;
    const exited = new Promise<WorkerExit>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (err) => {
        spawnError = err;
        // A process that never started emits no 'exit'.
        if (child.pid === undefined) resolve({ code: null, signal: null });
      });
    });
    let markReady: () => void = () => {};
    let failReady: (err: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    ready.catch(() => {}); // observed through the supervisor
    let isReady = false;
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      onOutput(line, label);
      if (!isReady && readyPattern.test(line)) {
        isReady = true;
        clearTimeout(readyTimer);
        markReady();
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        partial += chunk;
        for (let nl = partial.indexOf('\n'); nl !== -1; nl = partial.indexOf('\n')) {
          onLine(partial.slice(0, nl).replace(/\r$/, ''));
          partial = partial.slice(nl + 1);
        }
      });
      stream.on('error', () => {});
    }
    const readyTimer = setTimeout(() => {
      if (isReady) return;
      failReady(
        new WorkerStartError(
          `worker ${label} not ready within ${readyTimeoutMs} ms`,
          tail.join('\n'),
        ),
      );
      child.kill('SIGKILL');
    }, readyTimeoutMs);
    readyTimer.unref();
    void exited.then((exit) => {
      clearTimeout(readyTimer);
      clearTimeout(killTimer);
      if (!isReady) {
        const how = spawnError
          ? `could not start (${spawnError.message})`
          : `exited (${exit.signal ?? `code ${exit.code}`}) before it was ready`;
        failReady(new WorkerStartError(`worker ${label} ${how}`, tail.join('\n')));
      }
    });
    let killTimer: NodeJS.Timeout | undefined;
    const alive = () => child.exitCode === null && child.signalCode === null;
    return {
      label,
      ready,
      exited,
      stop() {
        if (!alive() || killTimer) return;
        child.kill('SIGTERM');
        killTimer = setTimeout(() => {
          if (alive()) child.kill('SIGKILL');
        }, drainTimeoutMs);
        killTimer.unref();
      },
      kill() {
        if (alive()) child.kill('SIGKILL');
      },
      get tail() {
        return tail.join('\n');
      },
    };
  };
}

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
  log?: (line: Record<string, unknown>) => void;
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
  readonly #log: (line: Record<string, unknown>) => void;
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
