/**
 * V8 startup snapshots of deployments (prelude and bundle evaluated, code
 * compiled and warmed up), made on this machine by a child process this
 * process forks (snapshot-maker.ts) and kept in memory, keyed by deployment
 * id, bundle hash and runtime version. An isolate started from one skips
 * the prelude, the bundle's compile and its evaluation, and most of the
 * first render's compilation.
 *
 * Trust: a snapshot holds machine code, so one from anywhere else could run
 * anything in this process (isolated-vm's warning; CVE-2022-39266 for code
 * caches). Snapshots are accepted only from a child this object forked, over
 * its private IPC channel, right after it made them; nothing is read from
 * disk or from the network, so there is nothing to verify with a key.
 *
 * @module
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { InvalidOptionError, positiveInt } from '@flotilla/protocol';
import ivm from 'isolated-vm';
import { preludeHash, preludeSetupSource } from './guest-code.ts';
import { ISOLATE_HOST_FLAGS } from './process-flags.ts';
import type { SnapshotAnswer, SnapshotJob } from './snapshot-maker.ts';

const EXT = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const MAKER = fileURLToPath(new URL(`./snapshot-maker${EXT}`, import.meta.url));

/** isolated-vm's version, Node's (V8's) and the prelude's: a snapshot is only good for all three. */
let runtimeVersion: string | undefined;
function currentRuntimeVersion(): string {
  if (runtimeVersion === undefined) {
    const require = createRequire(import.meta.url);
    const ivmVersion = (
      JSON.parse(readFileSync(require.resolve('isolated-vm/package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
    runtimeVersion = `ivm ${ivmVersion} node ${process.version} prelude ${preludeHash().slice(0, 16)}`;
  }
  return runtimeVersion;
}

/**
 * A deployment's snapshot, as {@link SnapshotCache.get} hands it out. Opaque:
 * only the cache that made it can turn it into an isolate's start
 * ({@link snapshotBlob}), and only for the deployment and bundle it was made
 * of. A value made any other way is refused, whatever it holds.
 */
export interface DeploymentSnapshot {
  readonly deploymentId: string;
  readonly bundleHash: string;
  /** Its size in bytes. */
  readonly bytes: number;
}

/** The V8 blob of every snapshot this thread's caches made and still hold. */
const blobs = new WeakMap<DeploymentSnapshot, ivm.ExternalCopy<ArrayBuffer>>();

/**
 * The V8 blob of `snapshot`, for an isolate of `deploymentId` with
 * `bundleHash`.
 *
 * @throws InvalidOptionError `FLOTILLA_ERR_INVALID_OPTION` (`snapshot`) when
 * it was not made by a {@link SnapshotCache} of this thread, was released,
 * or is another deployment's or bundle's.
 */
export function snapshotBlob(
  snapshot: DeploymentSnapshot,
  deploymentId: string,
  bundleHash: string,
): ivm.ExternalCopy<ArrayBuffer> {
  const blob = blobs.get(snapshot);
  if (blob === undefined) {
    throw new InvalidOptionError('snapshot', 'was not made by this process (or was released)');
  }
  if (snapshot.deploymentId !== deploymentId || snapshot.bundleHash !== bundleHash) {
    throw new InvalidOptionError(
      'snapshot',
      `is the snapshot of ${snapshot.deploymentId}, not of ${deploymentId} with this bundle`,
    );
  }
  return blob;
}

/**
 * Checks a child's answer before its bytes become a snapshot: the sha256 the
 * child computed over what it made must match what arrived.
 *
 * @internal exported for its test
 */
export function acceptAnswer(answer: SnapshotAnswer): SnapshotAnswer {
  if (!answer.ok) return answer;
  const digest = createHash('sha256').update(answer.bytes).digest('hex');
  if (digest !== answer.sha256) {
    return { ok: false, message: 'the snapshot arrived corrupt (its sha256 does not match)' };
  }
  return answer;
}

/** What happened to one snapshot (for logs and metrics). */
export interface SnapshotEvent {
  deploymentId: string;
  bundleHash: string;
  /** `made`; `refused` (the bundle cannot be held in one: its message says why); `failed` (time, memory, crash). */
  outcome: 'made' | 'refused' | 'failed';
  /** Wall time of the child, fork to answer. */
  ms: number;
  bytes?: number;
  message?: string;
}

/** Options of {@link SnapshotCache}. */
export interface SnapshotCacheOptions {
  /** Snapshots kept; the least recently used is released past it. @default 16 */
  maxEntries?: number;
  /** Wall time the child may take to make one (killed past it). @default 30000 */
  timeoutMs?: number;
  /** Memory (RSS, MiB) the child may use (killed past it; read from /proc). @default 1024 */
  maxChildMb?: number;
  /**
   * Fresh loads of a deployment (and bundle) after which
   * {@link SnapshotCache.loadedFresh} makes its snapshot. A snapshot only
   * helps the deployment's next isolates on this thread, and most
   * deployments load once per thread: the default waits until one has come
   * back (recycled, evicted, killed by a limit) before spending 1–4 s of CPU
   * on it. 1 makes it after the first load. The loads of at most
   * {@link LOAD_COUNTS_KEPT} deployments are counted (the least recently
   * loaded are forgotten). @default 2
   */
  snapshotAfterLoads?: number;
  /** Told of every snapshot made, refused or failed. */
  onSnapshot?: (event: SnapshotEvent) => void;
}

/** Deployments whose fresh loads a {@link SnapshotCache} counts, at most (the least recently loaded go). */
export const LOAD_COUNTS_KEPT = 1000;

/** What {@link SnapshotCache.request} needs. */
export interface SnapshotRequest {
  deploymentId: string;
  bundleHash: string;
  code: string;
  /** Paths rendered (in a throw-away context) to compile the render path. @default none */
  warmupPaths?: string[];
  /** The isolate's heap limit, for the child's check. */
  heapMb: number;
}

type Entry =
  | { state: 'making'; done: Promise<boolean> }
  | { state: 'ready'; snapshot: DeploymentSnapshot }
  | { state: 'failed' };

/** Forgets `snapshot`'s blob (isolates started from it keep their own reference). */
function release(snapshot: DeploymentSnapshot): void {
  blobs.get(snapshot)?.release();
  blobs.delete(snapshot);
}

/** The lines of a child's stderr that say something (V8 frames many with `#`). */
function firstLines(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(/^#\s*/, '').trim())
    .filter((line) => line !== '')
    .slice(0, 3)
    .join(' ');
}

/** Reads a process's resident memory in MiB from /proc, or 0 when it cannot. */
function rssMb(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    return kb === undefined ? 0 : Number(kb) / 1024;
  } catch {
    return 0;
  }
}

/**
 * Deployments' snapshots, made in the background and kept in memory: tell
 * it of each fresh load with {@link loadedFresh} (it makes the snapshot of
 * a deployment that keeps coming back), or ask for one with
 * {@link request}; start isolates from {@link get}. A deployment whose
 * snapshot was refused or failed is not tried again (its isolates load
 * fresh).
 */
export class SnapshotCache {
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #maxChildMb: number;
  readonly #onSnapshot: ((event: SnapshotEvent) => void) | undefined;
  readonly #afterLoads: number;
  /** Fresh loads per key, least recently loaded first (at most {@link LOAD_COUNTS_KEPT}). */
  readonly #loads = new Map<string, number>();
  // Map order is recency order for ready entries.
  readonly #entries = new Map<string, Entry>();
  readonly #children = new Set<ChildProcess>();
  /** The snapshot being made now: one child at a time per cache, the others wait. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: SnapshotCacheOptions = {}) {
    this.#max = positiveInt('maxEntries', options.maxEntries, 16);
    this.#timeoutMs = positiveInt('timeoutMs', options.timeoutMs, 30_000);
    this.#maxChildMb = positiveInt('maxChildMb', options.maxChildMb, 1024);
    this.#onSnapshot = options.onSnapshot;
    this.#afterLoads = positiveInt('snapshotAfterLoads', options.snapshotAfterLoads, 2);
  }

  #key(deploymentId: string, bundleHash: string): string {
    return `${deploymentId}\n${bundleHash}\n${currentRuntimeVersion()}`;
  }

  /** The snapshot of this deployment and bundle, if one is ready. */
  get(deploymentId: string, bundleHash: string): DeploymentSnapshot | undefined {
    const key = this.#key(deploymentId, bundleHash);
    const entry = this.#entries.get(key);
    if (entry?.state !== 'ready') return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.snapshot;
  }

  /** Snapshots ready. */
  get size(): number {
    let n = 0;
    for (const entry of this.#entries.values()) if (entry.state === 'ready') n++;
    return n;
  }

  /**
   * Forgets the snapshot of this deployment and bundle and never makes it
   * again (an isolate could not start from it).
   */
  refuse(deploymentId: string, bundleHash: string): void {
    const key = this.#key(deploymentId, bundleHash);
    const entry = this.#entries.get(key);
    if (entry?.state === 'ready') release(entry.snapshot);
    this.#entries.set(key, { state: 'failed' });
  }

  /**
   * Counts a fresh load of this deployment and bundle (an isolate that did
   * not start from a snapshot), and requests its snapshot ({@link request})
   * once it has loaded fresh `snapshotAfterLoads` times. Resolves true once
   * the snapshot is ready, false when it is not requested (yet) or cannot
   * be made (never rejects).
   */
  loadedFresh(req: SnapshotRequest): Promise<boolean> {
    const key = this.#key(req.deploymentId, req.bundleHash);
    const loads = (this.#loads.get(key) ?? 0) + 1;
    this.#loads.delete(key);
    this.#loads.set(key, loads);
    for (const oldest of this.#loads.keys()) {
      if (this.#loads.size <= LOAD_COUNTS_KEPT) break;
      this.#loads.delete(oldest);
    }
    if (loads < this.#afterLoads) return Promise.resolve(false);
    return this.request(req);
  }

  /**
   * Makes the snapshot in a child process unless it is ready, being made,
   * or failed before (whatever the loads counted). Resolves true once it is ready, false if it cannot be
   * made (never rejects).
   */
  request(req: SnapshotRequest): Promise<boolean> {
    const key = this.#key(req.deploymentId, req.bundleHash);
    const entry = this.#entries.get(key);
    if (entry?.state === 'ready') return Promise.resolve(true);
    if (entry?.state === 'failed' || this.#closed) return Promise.resolve(false);
    if (entry?.state === 'making') return entry.done;
    // One at a time, so a burst of new deployments does not fork a child each.
    const made = this.#queue.then(() =>
      this.#closed ? { ok: false as const, message: 'closed' } : this.#make(req),
    );
    this.#queue = made;
    const done = made.then((answer) => {
      if (this.#entries.get(key)?.state !== 'making') {
        // Refused or closed meanwhile.
        return false;
      }
      if (!answer.ok) {
        this.#entries.set(key, { state: 'failed' });
        return false;
      }
      const { bytes } = answer;
      const own: ArrayBuffer =
        bytes.byteOffset === 0 &&
        bytes.byteLength === bytes.buffer.byteLength &&
        bytes.buffer instanceof ArrayBuffer
          ? bytes.buffer
          : bytes.slice().buffer;
      const snapshot: DeploymentSnapshot = Object.freeze({
        deploymentId: req.deploymentId,
        bundleHash: req.bundleHash,
        bytes: own.byteLength,
      });
      blobs.set(snapshot, new ivm.ExternalCopy(own));
      this.#entries.set(key, { state: 'ready', snapshot });
      this.#trim();
      return true;
    });
    this.#entries.set(key, { state: 'making', done });
    return done;
  }

  #trim(): void {
    let ready = this.size;
    for (const [key, entry] of this.#entries) {
      if (ready <= this.#max) break;
      if (entry.state !== 'ready') continue;
      release(entry.snapshot);
      this.#entries.delete(key);
      ready--;
    }
  }

  /** Runs the child; resolves with its answer, or a failure (time, memory, crash). */
  #make(req: SnapshotRequest): Promise<SnapshotAnswer> {
    const started = performance.now();
    const job: SnapshotJob = {
      setup: preludeSetupSource(),
      bundle: req.code,
      bundleFilename: `flotilla://${req.deploymentId}/bundle.js`,
      warmupPaths: req.warmupPaths ?? [],
      heapMb: req.heapMb,
      // Its own watchdog, a little after ours: it also covers this process dying.
      timeoutMs: this.#timeoutMs + 1000,
    };
    return new Promise<SnapshotAnswer>((resolve) => {
      const child = fork(MAKER, [], {
        execArgv: [...ISOLATE_HOST_FLAGS],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      this.#children.add(child);
      // Renders come first: the child gets the CPU they leave.
      try {
        if (child.pid !== undefined) setPriority(child.pid, 10);
      } catch {
        // not allowed here: it runs at the worker's priority
      }
      let stderr = '';
      // Its first lines say why (V8's fatal errors print the check, then a stack).
      child.stderr?.on('data', (chunk: Buffer) => {
        if (stderr.length < 2000) stderr = (stderr + chunk.toString('utf8')).slice(0, 2000);
      });
      let answer: SnapshotAnswer | undefined;
      let killedFor: string | undefined;
      const kill = (why: string) => {
        killedFor ??= why;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(
        () => kill(`it took longer than ${this.#timeoutMs} ms`),
        this.#timeoutMs,
      );
      const memory = setInterval(() => {
        if (rssMb(child.pid) > this.#maxChildMb) kill(`it used more than ${this.#maxChildMb} MiB`);
      }, 50);
      child.on('message', (message: SnapshotAnswer) => {
        answer = acceptAnswer(message);
      });
      child.on('error', (err) => kill(err.message));
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        clearInterval(memory);
        this.#children.delete(child);
        const ms = performance.now() - started;
        const base = { deploymentId: req.deploymentId, bundleHash: req.bundleHash, ms };
        let result: SnapshotAnswer;
        if (answer?.ok && killedFor === undefined) {
          result = answer;
          this.#onSnapshot?.({ ...base, outcome: 'made', bytes: answer.bytes.byteLength });
        } else if (answer && !answer.ok && killedFor === undefined) {
          result = answer;
          this.#onSnapshot?.({ ...base, outcome: 'refused', message: answer.message });
        } else {
          const why =
            killedFor ??
            `the snapshot maker exited (${signal ?? `code ${code}`})${stderr ? `: ${firstLines(stderr)}` : ''}`;
          result = { ok: false, message: why };
          this.#onSnapshot?.({ ...base, outcome: 'failed', message: why });
        }
        resolve(result);
      });
      child.send(job);
    });
  }

  /** Kills the children still making snapshots and releases every snapshot. */
  close(): void {
    this.#closed = true;
    for (const child of this.#children) child.kill('SIGKILL');
    for (const entry of this.#entries.values()) {
      if (entry.state === 'ready') release(entry.snapshot);
    }
    this.#entries.clear();
    this.#loads.clear();
  }
}
