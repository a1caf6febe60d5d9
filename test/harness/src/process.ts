import { type ChildProcess, spawn } from 'node:child_process';
import { basename } from 'node:path';
import { trackChild } from './child-reaper.ts';
import { LineLog, lineMatches } from './line-log.ts';

/** How a child process ended. */
export interface ProcessExit {
  /** Exit code, or `null` when the process was ended by a signal. */
  code: number | null;
  /** The signal that ended the process, or `null` when it exited by itself. */
  signal: NodeJS.Signals | null;
}

/** Options for {@link spawnProcess}. */
export interface SpawnProcessOptions {
  /** Executable to run, e.g. `process.execPath`. */
  command: string;
  /** Arguments. */
  args: string[];
  /**
   * Extra environment, merged over `process.env` (set a key to `undefined` to
   * remove an inherited variable).
   * @default process.env
   */
  env?: NodeJS.ProcessEnv;
  /**
   * Working directory.
   * @default process.cwd()
   */
  cwd?: string;
  /**
   * Resolve once a line of stdout or stderr matches this. When omitted,
   * {@link spawnProcess} resolves as soon as the process has spawned.
   */
  readyPattern?: RegExp;
  /**
   * How long to wait for `readyPattern`; the process is SIGKILLed on timeout.
   * @default 20000
   */
  readyTimeoutMs?: number;
  /**
   * Label used in error messages.
   * @default basename of `command`
   */
  name?: string;
  /**
   * How many lines of combined stdout+stderr to keep in memory.
   * @default 200
   */
  maxLogLines?: number;
  /**
   * Starts the child as the leader of a process group of its own: `kill()`
   * signals the whole group (e.g. `npx` and the command it runs, as Ctrl-C
   * in a terminal does), `exited` waits until every process of the group
   * holding its output is gone, and the reaper kills the group.
   * @default false
   */
  processGroup?: boolean;
}

/** A running (or finished) child process started by {@link spawnProcess}. */
export interface ChildHandle {
  /** OS process id. */
  readonly pid: number;
  /** Label from {@link SpawnProcessOptions.name}. */
  readonly name: string;
  /**
   * Resolves when the process has exited and its output has been read.
   * Never rejects.
   */
  readonly exited: Promise<ProcessExit>;
  /** The exit status once known, else `undefined`. */
  readonly exitStatus: ProcessExit | undefined;
  /** Combined stdout+stderr lines retained so far (the last `maxLogLines`), joined with `\n`. */
  output(): string;
  /**
   * Resolves with the first line (retained or future) that matches `pattern`.
   * Rejects, with the log tail, on timeout or when the process exits first.
   * @param pattern - matched against each line (`lastIndex` is ignored)
   * @param timeoutMs - give up after this long (default 20000 ms)
   */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /**
   * Sends `signal` and resolves when the process has exited; sends SIGKILL if
   * it is still alive 10 s later. Resolves at once if it has already exited.
   * @param signal - the signal to send first (default `'SIGTERM'`)
   */
  kill(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

/** After 'exit', how long to wait for stdout/stderr to close (a grandchild may hold them). */
const STDIO_DRAIN_MS = 500;
const KILL_ESCALATION_MS = 10_000;

/** Human-readable exit description for error messages. */
export function describeExit(exit: ProcessExit): string {
  return exit.signal !== null ? `signal ${exit.signal}` : `code ${String(exit.code)}`;
}

class ChildProcessHandle implements ChildHandle {
  readonly pid: number;
  readonly name: string;
  readonly exited: Promise<ProcessExit>;
  readonly #child: ChildProcess;
  readonly #log: LineLog;
  readonly #group: boolean;
  #exitStatus: ProcessExit | undefined;
  #killTimer: NodeJS.Timeout | undefined;

  constructor(child: ChildProcess, pid: number, name: string, log: LineLog, group: boolean) {
    this.#child = child;
    this.pid = pid;
    this.name = name;
    this.#log = log;
    this.#group = group;
    this.exited = new Promise((resolve) => {
      let settled = false;
      const settle = (): void => {
        if (settled) return;
        settled = true;
        const status: ProcessExit = {
          code: child.exitCode,
          signal: child.signalCode,
        };
        this.#exitStatus = status;
        clearTimeout(this.#killTimer);
        resolve(status);
      };
      child.once('close', settle);
      // A group's other processes hold its output until they are gone.
      if (!group) {
        child.once('exit', () => {
          setTimeout(settle, STDIO_DRAIN_MS).unref();
        });
      }
    });
  }

  get exitStatus(): ProcessExit | undefined {
    return this.#exitStatus;
  }

  get #label(): string {
    return `${this.name} (pid ${this.pid})`;
  }

  output(): string {
    return this.#log.text();
  }

  waitForLine(pattern: RegExp, timeoutMs = 20_000): Promise<string> {
    const seen = this.#log.lines().find((line) => lineMatches(pattern, line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      let done = false;
      const finish = (): void => {
        done = true;
        unsubscribe();
        clearTimeout(timer);
      };
      const unsubscribe = this.#log.onLine((line) => {
        if (!done && lineMatches(pattern, line)) {
          finish();
          resolve(line);
        }
      });
      const timer = setTimeout(() => {
        if (done) return;
        finish();
        reject(
          new Error(
            `${this.#label}: no output line matched ${String(pattern)} within ${timeoutMs} ms; last output:\n${this.#log.tail()}`,
          ),
        );
      }, timeoutMs);
      void this.exited.then((exit) => {
        if (done) return;
        finish();
        reject(
          new Error(
            `${this.#label} exited (${describeExit(exit)}) before printing a line matching ${String(pattern)}; last output:\n${this.#log.tail()}`,
          ),
        );
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<ProcessExit> {
    const child = this.#child;
    const running = () =>
      this.#group
        ? this.#exitStatus === undefined
        : child.exitCode === null && child.signalCode === null;
    if (this.#exitStatus !== undefined || !running()) return this.exited;
    const send = (s: NodeJS.Signals) => {
      try {
        if (this.#group) process.kill(-this.pid, s);
        else child.kill(s);
      } catch {
        // exited in the meantime
      }
    };
    child.ref();
    send(signal);
    if (this.#killTimer === undefined && signal !== 'SIGKILL') {
      this.#killTimer = setTimeout(() => {
        if (running()) send('SIGKILL');
      }, KILL_ESCALATION_MS);
    }
    return this.exited;
  }
}

/**
 * Resolves once `child` has spawned; rejects with `failure: <reason>` when it
 * cannot start. Later errors (e.g. a failed kill) are swallowed, so that
 * they never become uncaught exceptions.
 */
export async function whenSpawned(child: ChildProcess, failure: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      child.off('spawn', onSpawn);
      reject(new Error(`${failure}: ${error.message}`, { cause: error }));
    };
    const onSpawn = (): void => {
      child.off('error', onError);
      resolve();
    };
    child.once('error', onError);
    child.once('spawn', onSpawn);
  });
  child.on('error', () => {});
}

function unrefStdio(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    // Pipes are net.Sockets at runtime; unref so a forgotten child cannot keep
    // the test process alive (the reaper still kills it on exit).
    const maybe = stream as unknown as { unref?: () => void } | null;
    maybe?.unref?.();
  }
}

/**
 * Spawns a child process with piped stdio and collects its combined
 * stdout+stderr into a bounded in-memory log.
 *
 * Resolves once a line matches `readyPattern` (or right after spawn if there is
 * none). Rejects with the log tail if the process exits first or
 * `readyTimeoutMs` passes (the process is then SIGKILLed). Every child is
 * SIGKILLed when the test process exits or receives SIGTERM/SIGINT/SIGHUP.
 *
 * The child's stdin is an open pipe that is never written: it sees EOF when the
 * test process dies, which a child can use to notice a dead parent. The child
 * and its pipes are unref'd, so a forgotten child never keeps the test process
 * alive; `kill()` re-refs it while waiting.
 */
export async function spawnProcess(options: SpawnProcessOptions): Promise<ChildHandle> {
  const name = options.name ?? basename(options.command);
  const log = new LineLog(options.maxLogLines ?? 200);
  const env = options.env === undefined ? process.env : { ...process.env, ...options.env };
  const group = options.processGroup ?? false;
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: group,
  });
  trackChild(child, { group });
  if (child.stdout) log.attach(child.stdout);
  if (child.stderr) log.attach(child.stderr);
  child.stdin?.on('error', () => {});

  await whenSpawned(child, `spawnProcess: could not start ${name} (${options.command})`);
  unrefStdio(child);

  const pid = child.pid;
  if (pid === undefined) throw new Error(`spawnProcess: ${name} has no pid after spawn`);
  const handle = new ChildProcessHandle(child, pid, name, log, group);

  if (options.readyPattern !== undefined) {
    try {
      await handle.waitForLine(options.readyPattern, options.readyTimeoutMs ?? 20_000);
    } catch (error) {
      await handle.kill('SIGKILL');
      throw error;
    }
  }
  return handle;
}
