import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, relative } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { trackChild, trackTempDir, untrackTempDir } from './child-reaper.ts';
import { LineLog } from './line-log.ts';
import { describeExit, type ProcessExit, whenSpawned } from './process.ts';

/** Options for {@link startNatsServer}. */
export interface NatsServerOptions {
  /**
   * Enable JetStream, storing data in `<tmpdir>/js`.
   * @default false
   */
  jetstream?: boolean;
  /**
   * Path (or bare name, looked up on PATH) of the nats-server binary.
   * @default process.env.NATS_SERVER_BIN, else /usr/sbin/nats-server, else nats-server on PATH
   */
  binary?: string;
  /**
   * Bound on each start (and restart): ports file written and TCP port accepting.
   * @default 10000
   */
  startTimeoutMs?: number;
  /**
   * A configuration file the server's configuration includes (e.g. the
   * `auth.conf` of `flotilla auth init`), by absolute path: nats-server
   * resolves includes relative to the including file, so the harness does.
   * @default nothing included
   */
  include?: string;
}

/** Options for {@link NatsServerHandle.stop}. */
export interface NatsStopOptions {
  /**
   * Keep the temp dir (config and JetStream store) so a later
   * {@link NatsServerHandle.restart} finds the same JetStream data.
   * @default false
   */
  keepData?: boolean;
}

/** A real nats-server child process started by {@link startNatsServer}. */
export interface NatsServerHandle {
  /** Client URL, `nats://127.0.0.1:<port>`; unchanged by restarts. */
  readonly url: string;
  /** Client port; unchanged by restarts. */
  readonly port: number;
  /** OS process id of the current (or last) server process; changes on restart. */
  readonly pid: number;
  /** Whether the server process is alive. */
  readonly running: boolean;
  /** The temp dir holding the config, the ports files and the JetStream store. */
  readonly dir: string;
  /** The JetStream store dir (`<dir>/js`), or `undefined` without JetStream. */
  readonly storeDir: string | undefined;
  /** The server's recent log lines (it logs to stderr). */
  output(): string;
  /**
   * Graceful stop: SIGTERM, wait for exit, SIGKILL after 5 s. Then removes the
   * temp dir unless `keepData` is set. Idempotent; `restart()` may follow.
   */
  stop(options?: NatsStopOptions): Promise<void>;
  /**
   * Sends `signal` at once (a crash, by default) and resolves when the process
   * has exited. Keeps the temp dir, so `restart()` sees the same store; call
   * `stop()` afterwards to clean up. Signals that nats-server handles without
   * exiting (SIGHUP reload, SIGUSR1 log reopen) never resolve.
   * @param signal - the signal to send (default `'SIGKILL'`)
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * Starts the server again on the same port with the same store dir path
   * (stopping it first, keeping data, if it is running). Clients that
   * reconnect to {@link url} find it again.
   */
  restart(): Promise<void>;
  /**
   * Reloads the configuration (SIGHUP, as `nats-server --signal reload`
   * does) and resolves once the server logged that it reloaded it.
   * @param timeoutMs - default 10000
   */
  reload(timeoutMs?: number): Promise<void>;
}

const STOP_ESCALATION_MS = 5_000;
const POLL_MS = 25;
const INSTALL_HINT =
  'Install it with `apt-get install -y nats-server` (Debian/Ubuntu), or set NATS_SERVER_BIN to the path of a nats-server binary.';

async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function resolveExplicit(binary: string, source: string): Promise<string> {
  if (binary.includes('/')) {
    if (await isExecutable(binary)) return binary;
    throw new Error(
      `nats-server binary not found: ${binary} (from ${source}) does not exist or is not executable. ${INSTALL_HINT}`,
    );
  }
  const found = await findOnPath(binary);
  if (found !== undefined) return found;
  throw new Error(
    `nats-server binary not found: "${binary}" (from ${source}) is not on PATH (${process.env.PATH ?? ''}). ${INSTALL_HINT}`,
  );
}

/** Resolves the binary: explicit option, then NATS_SERVER_BIN, then /usr/sbin/nats-server, then PATH. */
async function resolveBinary(binary: string | undefined): Promise<string> {
  if (binary !== undefined) return resolveExplicit(binary, 'options.binary');
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return resolveExplicit(fromEnv, 'NATS_SERVER_BIN');
  const debianPath = '/usr/sbin/nats-server';
  if (await isExecutable(debianPath)) return debianPath;
  const found = await findOnPath('nats-server');
  if (found !== undefined) return found;
  throw new Error(
    `nats-server binary not found: not at ${debianPath} and no "nats-server" on PATH (${process.env.PATH ?? ''}). ${INSTALL_HINT}`,
  );
}

function renderConfig(
  port: number,
  dir: string,
  storeDir: string | undefined,
  include: string | undefined,
): string {
  const lines = [
    '# written by @flotilla/test-harness',
    'host: "127.0.0.1"',
    `port: ${port}`,
    `ports_file_dir: ${JSON.stringify(dir)}`,
  ];
  if (storeDir !== undefined) {
    lines.push('jetstream {', `  store_dir: ${JSON.stringify(storeDir)}`, '}');
  }
  if (include !== undefined) lines.push(`include ${JSON.stringify(relative(dir, include))}`);
  return `${lines.join('\n')}\n`;
}

/** Reads `<anything>_<pid>.ports` (nats-server names it after basename(argv[0])). */
async function readPortsFile(dir: string, pid: number): Promise<number | undefined> {
  const suffix = `_${pid}.ports`;
  const entries = await readdir(dir);
  const file = entries.find((entry) => entry.endsWith(suffix));
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(join(dir, file), 'utf8'));
  } catch {
    return undefined; // partially written; try again
  }
  const nats = (parsed as { nats?: unknown }).nats;
  const first = Array.isArray(nats) ? (nats[0] as unknown) : undefined;
  if (typeof first !== 'string') return undefined;
  const port = Number(new URL(first).port);
  return Number.isInteger(port) && port > 0 ? port : undefined;
}

function canConnect(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => finish(false), Math.max(1, timeoutMs));
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

interface Run {
  child: ChildProcess;
  pid: number;
  exited: Promise<ProcessExit>;
  status: ProcessExit | undefined;
  stopping: Promise<void> | undefined;
}

class NatsServer implements NatsServerHandle {
  readonly dir: string;
  readonly storeDir: string | undefined;
  readonly #binary: string;
  readonly #startTimeoutMs: number;
  readonly #include: string | undefined;
  readonly #log = new LineLog(100);
  #port = 0;
  #run: Run | undefined;
  #restarting: Promise<void> | undefined;
  #dirRemoved = false;

  constructor(
    binary: string,
    dir: string,
    jetstream: boolean,
    startTimeoutMs: number,
    include: string | undefined,
  ) {
    this.#include = include;
    this.#binary = binary;
    this.dir = dir;
    this.storeDir = jetstream ? join(dir, 'js') : undefined;
    this.#startTimeoutMs = startTimeoutMs;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  get pid(): number {
    return this.#run?.pid ?? 0;
  }

  get running(): boolean {
    return this.#run !== undefined && this.#run.status === undefined;
  }

  output(): string {
    return this.#log.text();
  }

  /** Writes the config, spawns the server and waits until its client port accepts. */
  async launch(fixedPort: number | undefined): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    trackTempDir(this.dir);
    this.#dirRemoved = false;
    const configFile = join(this.dir, 'nats-server.conf');
    await writeFile(
      configFile,
      renderConfig(fixedPort ?? -1, this.dir, this.storeDir, this.#include),
    );

    const child = spawn(this.#binary, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    trackChild(child);
    if (child.stdout) this.#log.attach(child.stdout);
    if (child.stderr) this.#log.attach(child.stderr);

    await whenSpawned(child, `nats-server: could not start ${this.#binary}`);
    const pid = child.pid ?? 0;
    const run: Run = {
      child,
      pid,
      status: undefined,
      stopping: undefined,
      exited: new Promise((resolve) => {
        child.once('exit', (code, signal) => {
          run.status = { code, signal };
          resolve(run.status);
        });
      }),
    };
    this.#run = run;
    // A server left running must not keep the test process alive; the reaper kills it at exit.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) {
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }

    const deadline = Date.now() + this.#startTimeoutMs;
    const fail = async (reason: string): Promise<never> => {
      if (run.status === undefined) {
        child.kill('SIGKILL');
        await run.exited;
      }
      throw new Error(
        `nats-server (${this.#binary}, pid ${pid}) ${reason}; config ${configFile}; last output:\n${this.#log.tail(30)}`,
      );
    };

    let port: number | undefined;
    while (port === undefined) {
      if (run.status !== undefined) {
        return fail(`exited early (${describeExit(run.status)}) before writing its ports file`);
      }
      if (Date.now() >= deadline) {
        return fail(`wrote no ports file in ${this.dir} within ${this.#startTimeoutMs} ms`);
      }
      port = await readPortsFile(this.dir, pid);
      if (port === undefined) await delay(POLL_MS);
    }
    if (fixedPort !== undefined && port !== fixedPort) {
      return fail(`listens on port ${port}, expected ${fixedPort}`);
    }
    for (;;) {
      if (run.status !== undefined) {
        return fail(`exited early (${describeExit(run.status)}) before accepting connections`);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        return fail(
          `did not accept TCP connections on 127.0.0.1:${port} within ${this.#startTimeoutMs} ms`,
        );
      }
      if (await canConnect(port, Math.min(remaining, 1_000))) break;
      await delay(POLL_MS);
    }
    this.#port = port;
  }

  #terminate(signal: NodeJS.Signals, escalateAfterMs: number | undefined): Promise<void> {
    const run = this.#run;
    if (run === undefined || run.status !== undefined) return Promise.resolve();
    run.child.ref(); // keep the event loop alive until the exit is seen
    try {
      run.child.kill(signal);
    } catch {
      // already gone
    }
    if (run.stopping === undefined && escalateAfterMs !== undefined) {
      const timer = setTimeout(() => {
        if (run.status === undefined) run.child.kill('SIGKILL');
      }, escalateAfterMs);
      run.stopping = run.exited.then(() => clearTimeout(timer));
      return run.stopping;
    }
    return run.exited.then(() => undefined);
  }

  async #removeDir(): Promise<void> {
    if (this.#dirRemoved) return;
    this.#dirRemoved = true;
    await rm(this.dir, { recursive: true, force: true });
    untrackTempDir(this.dir);
  }

  async #removeStalePortsFiles(): Promise<void> {
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(
      entries
        .filter((entry) => entry.endsWith('.ports'))
        .map((entry) => rm(join(this.dir, entry), { force: true })),
    );
  }

  async stop(options: NatsStopOptions = {}): Promise<void> {
    const run = this.#run;
    if (run?.stopping !== undefined) await run.stopping;
    else await this.#terminate('SIGTERM', STOP_ESCALATION_MS);
    if (options.keepData !== true) await this.#removeDir();
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.#terminate(signal, undefined);
  }

  async reload(timeoutMs = 10_000): Promise<void> {
    const run = this.#run;
    if (run === undefined || run.status !== undefined)
      throw new Error('nats-server is not running');
    const reloads = () => this.#log.text().split('Reloaded server configuration').length;
    const before = reloads();
    run.child.kill('SIGHUP');
    const deadline = Date.now() + timeoutMs;
    while (reloads() === before) {
      if (run.status !== undefined)
        throw new Error(`nats-server exited on reload:\n${this.#log.tail(30)}`);
      if (Date.now() >= deadline) {
        throw new Error(
          `nats-server did not reload within ${timeoutMs} ms:\n${this.#log.tail(30)}`,
        );
      }
      await delay(POLL_MS);
    }
  }

  restart(): Promise<void> {
    if (this.#restarting !== undefined) return this.#restarting;
    this.#restarting = (async () => {
      try {
        if (this.running) await this.stop({ keepData: true });
        await mkdir(this.dir, { recursive: true });
        await this.#removeStalePortsFiles();
        await this.launch(this.#port);
      } finally {
        this.#restarting = undefined;
      }
    })();
    return this.#restarting;
  }
}

/**
 * Starts a real `nats-server` child process listening on a free port on
 * 127.0.0.1, the way nats.js's own test launcher does: a config with
 * `port: -1` and `ports_file_dir` in a fresh temp dir, then waiting for the
 * ports file and for the TCP port to accept connections.
 *
 * @throws Error naming where the binary was looked for, and how to install it,
 *   when there is no binary; Error with the server's last output when it exits
 *   early or does not come up within `startTimeoutMs`.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = await resolveBinary(options.binary);
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-nats-'));
  trackTempDir(dir);
  const server = new NatsServer(
    binary,
    dir,
    options.jetstream ?? false,
    options.startTimeoutMs ?? 10_000,
    options.include,
  );
  try {
    await server.launch(undefined);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    untrackTempDir(dir);
    throw error;
  }
  return server;
}
