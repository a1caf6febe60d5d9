/**
 * Worker processes as the `LocalSupervisor` starts them: the command
 * line of a fleet worker role, and a launcher that spawns it, waits for its
 * ready line, and stops (drains) or kills it.
 *
 * @module
 */
import { type ChildProcess, spawn as nodeSpawn } from 'node:child_process';
import { join } from 'node:path';
import {
  FlotillaError,
  InvalidOptionError,
  nonEmptyString,
  positiveInt,
  subjectTokenOption,
} from '@flotilla/protocol';
import { ISOLATE_HOST_FLAGS } from '@flotilla/runtime/process-flags';
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
  /**
   * Where the worker serves `/metrics` (its admin URL, from its ready line),
   * once ready; `undefined` before, or when its ready line names none.
   */
  readonly adminUrl?: string | undefined;
  /** The worker's id (`w-…`, from its ready line), once ready, when it names one. */
  readonly workerId?: string | undefined;
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

/** Options of {@link fleetWorkerCommand}. */
export interface FleetWorkerCommandOptions {
  /** NATS server URL(s) the workers connect to. */
  nats: string;
  /**
   * Path of the `flotilla` CLI script (`cli/src/bin.ts`).
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
   * @default ISOLATE_HOST_FLAGS of `@flotilla/runtime` (the worker hosts isolates)
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
 * `node <ISOLATE_HOST_FLAGS> <bin> start --nats <url> --role worker --region <r>
 * --store <dir> [--threads N] …extraArgs`. It prints
 * `flotilla worker ready: … on <admin url>` and drains and exits 0 on SIGTERM.
 */
export function fleetWorkerCommand(options: FleetWorkerCommandOptions): () => WorkerCommand {
  const nats = nonEmptyString('nats', options?.nats);
  const bin = nonEmptyString('bin', options.bin ?? process.argv[1]);
  const region = subjectTokenOption('region', options.region ?? 'local');
  const storeDir = nonEmptyString(
    'storeDir',
    options.storeDir,
    join(process.cwd(), '.flotilla', 'store'),
  );
  const threads =
    options.threads === undefined ? undefined : positiveInt('threads', options.threads, 1);
  const node = nonEmptyString('node', options.node, process.execPath);
  const args = [
    ...(options.nodeFlags ?? ISOLATE_HOST_FLAGS),
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

/**
 * A worker process that failed before it became ready
 * (`FLOTILLA_ERR_INTERNAL`: the fleet's own process could not start).
 */
export class WorkerStartError extends FlotillaError {
  /** The last lines the worker printed. */
  readonly output: string;
  constructor(message: string, output: string) {
    super('FLOTILLA_ERR_INTERNAL', output ? `${message}; last output:\n${output}` : message);
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
    let adminUrl: string | undefined;
    let workerId: string | undefined;
    const onLine = (line: string) => {
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
      onOutput(line, label);
      if (!isReady && readyPattern.test(line)) {
        isReady = true;
        // `flotilla worker ready: worker w-1a2b3c4d (region …) on http://host:port`
        adminUrl = / on (https?:\/\/\S+)$/.exec(line)?.[1];
        workerId = /\bworker (w-[0-9a-z]+)\b/.exec(line)?.[1];
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
      get adminUrl() {
        return adminUrl;
      },
      get workerId() {
        return workerId;
      },
    };
  };
}
