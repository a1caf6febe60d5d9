/**
 * Child process that makes one deployment's V8 startup snapshot
 * (`ivm.Isolate.createSnapshot`) and sends it back to the process that
 * started it (snapshot-cache.ts), over the IPC channel only.
 *
 * Why a child: createSnapshot runs the bundle with none of isolated-vm's
 * protection (no timeout, no heap limit: an endless loop stalls the
 * process, a big allocation or an object V8 cannot serialize aborts it),
 * and a snapshot V8 made may still abort the process that starts an isolate
 * from it (V8 checks at deserialization, e.g. a bundle that deleted a
 * global V8 adds when a context starts). This process is killed on a time
 * and memory limit, and starts an isolate from the snapshot before sending
 * it: a snapshot that would crash a worker crashes this child instead.
 *
 * The snapshot holds, in order: the guest prelude (not connected to any
 * host), a guard that traps the builtins V8 adds only when a context starts
 * (absent while a snapshot is made, so a bundle reading them would behave
 * differently from a fresh isolate), the bundle, and the guard's removal,
 * which refuses the snapshot if the bundle touched one. With warm-up paths,
 * isolated-vm evaluates the same scripts in a second, throw-away context,
 * renders the paths there (empty `env`, no host: `fetch`, timers and
 * randomness throw) and keeps only the compiled code: no state of those
 * renders is in the snapshot.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import ivm from 'isolated-vm';

/** What the parent sends. */
export interface SnapshotJob {
  setup: string;
  bundle: string;
  bundleFilename: string;
  warmupPaths: string[];
  heapMb: number;
  /** Past this (ms from the job's arrival) the child kills itself, parent or not. */
  timeoutMs: number;
}

/** What the child answers. */
export type SnapshotAnswer =
  | { ok: true; bytes: Uint8Array; sha256: string; guarded: number }
  | { ok: false; message: string };

/** Lists a context's globals, their own properties and their prototypes' (one per line). */
const LIST_BUILTINS = `(() => {
  const out = [];
  for (const n of Object.getOwnPropertyNames(globalThis)) {
    out.push(n);
    const v = globalThis[n];
    if (!v || (typeof v !== 'object' && typeof v !== 'function')) continue;
    for (const k of Object.getOwnPropertyNames(v)) out.push(n + '.' + k);
    const p = v.prototype;
    if (p && typeof p === 'object' && typeof v === 'function')
      for (const k of Object.getOwnPropertyNames(p)) out.push(n + '.prototype.' + k);
  }
  return out.join('\\n');
})()`;

/**
 * The builtins a started context has and a snapshot-making one lacks
 * (V8 adds them from its flags when a context starts): `WebAssembly`,
 * `SharedArrayBuffer`, `Error.stackTraceLimit`, … Found by asking V8 on
 * this machine, not listed by hand, so a V8 update keeps it right.
 */
function lateBuiltins(): string[] {
  const fresh = new ivm.Isolate({ memoryLimit: 32 });
  const started = new Set(
    (fresh.createContextSync().evalSync(LIST_BUILTINS) as string).split('\n'),
  );
  fresh.dispose();
  const probe = ivm.Isolate.createSnapshot([{ code: `globalThis.__listed = ${LIST_BUILTINS};` }]);
  const restored = new ivm.Isolate({ memoryLimit: 32, snapshot: probe });
  const making = new Set((restored.createContextSync().evalSync('__listed') as string).split('\n'));
  restored.dispose();
  const missing = [...started].filter((name) => !making.has(name));
  // A missing global covers its properties.
  const globals = new Set(missing.filter((name) => !name.includes('.')));
  return missing.filter((name) => !name.includes('.') || !globals.has(name.split('.')[0] ?? ''));
}

/**
 * A script that puts a recording accessor where each of `names` would be,
 * and one that removes them again and throws if the bundle touched any.
 */
function guardScripts(names: string[]): { guard: string; check: string } {
  const list = JSON.stringify(names);
  const guard = `(() => {
  const names = ${list};
  const hits = [];
  const targets = [];
  for (const name of names) {
    const parts = name.split('.');
    const key = parts.pop();
    let target = globalThis;
    for (const part of parts) target = target == null ? undefined : target[part];
    if (target == null || Object.prototype.hasOwnProperty.call(target, key)) continue;
    Object.defineProperty(target, key, {
      get() { hits.push(name); return undefined; },
      set() { hits.push(name); },
      enumerable: false,
      configurable: true,
    });
    targets.push([target, key]);
  }
  Object.defineProperty(globalThis, '__flotillaSnapshotGuard', {
    value: () => {
      for (const [target, key] of targets) delete target[key];
      return hits;
    },
    configurable: true,
    enumerable: false,
    writable: false,
  });
})();`;
  const check = `(() => {
  const guard = globalThis.__flotillaSnapshotGuard;
  delete globalThis.__flotillaSnapshotGuard;
  if (typeof guard !== 'function') throw new Error('the bundle removed the snapshot guard');
  const hits = guard();
  if (hits.length > 0)
    throw new Error('the bundle used ' + [...new Set(hits)].join(', ') + ' while it loaded, which a snapshot cannot hold');
})();`;
  return { guard, check };
}

/** Renders `paths` in the throw-away context (synchronous part and microtasks only). */
function warmupScript(paths: string[]): string {
  return `(() => {
  const connect = globalThis.__flotillaConnect;
  const none = () => {};
  const entries = connect(none, none, none, () => { throw new Error('no randomness while warming up'); }, () => null, none);
  const paths = ${JSON.stringify(paths)};
  for (let i = 0; i < paths.length; i++) {
    try {
      entries.start({ method: 'GET', url: 'http://prewarm.flotilla.invalid' + paths[i], headers: [['x-flotilla-prewarm', '1']], body: null, requestId: 'snapshot-warmup-' + i, env: null, maxBodyBytes: 10485760 }, i + 1, null);
    } catch {}
  }
})();`;
}

/** Starts an isolate from `snapshot` and checks that its prelude connects and holds a handler. */
function verify(snapshot: ivm.ExternalCopy<ArrayBuffer>, heapMb: number): void {
  const isolate = new ivm.Isolate({ memoryLimit: heapMb, snapshot });
  try {
    const context = isolate.createContextSync();
    const none = new ivm.Callback(() => {}, { ignored: true });
    const connect = context.global.getSync('__flotillaConnect', { reference: true });
    const entries = connect.applySync(undefined, [none, none, none, none, none, none], {
      result: { reference: true },
    }) as ivm.Reference<{ hasHandler(): boolean }>;
    const hasHandler = entries.getSync('hasHandler', { reference: true });
    if (hasHandler.applySync(undefined, []) !== true) {
      throw new Error('the bundle registered no handler');
    }
  } finally {
    isolate.dispose();
  }
}

function make(job: SnapshotJob): SnapshotAnswer {
  const names = lateBuiltins();
  const { guard, check } = guardScripts(names);
  const scripts = [
    { code: job.setup, filename: 'flotilla://prelude.js' },
    { code: guard, filename: 'flotilla://snapshot-guard.js' },
    { code: job.bundle, filename: job.bundleFilename },
    { code: check, filename: 'flotilla://snapshot-check.js' },
  ];
  const snapshot =
    job.warmupPaths.length > 0
      ? ivm.Isolate.createSnapshot(scripts, warmupScript(job.warmupPaths))
      : ivm.Isolate.createSnapshot(scripts);
  verify(snapshot, job.heapMb);
  const bytes = new Uint8Array(snapshot.copy());
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { ok: true, bytes, sha256, guarded: names.length };
}

/**
 * createSnapshot blocks this thread (an endless loop in a bundle, forever),
 * and the parent that would kill it may be gone (a worker killed): a thread
 * of its own kills the process past the job's time, or once the parent has
 * died.
 */
function watchdog(timeoutMs: number): void {
  const worker = new Worker(
    `const { workerData: w } = require('node:worker_threads');
     const kill = () => process.kill(w.pid, 'SIGKILL');
     setTimeout(kill, w.timeoutMs);
     setInterval(() => { if (process.ppid !== w.ppid) kill(); }, 250);`,
    { eval: true, workerData: { pid: process.pid, ppid: process.ppid, timeoutMs } },
  );
  worker.unref();
}

process.once('message', (job: SnapshotJob) => {
  watchdog(job.timeoutMs);
  let answer: SnapshotAnswer;
  try {
    answer = make(job);
  } catch (err) {
    answer = { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
  process.send?.(answer, () => process.disconnect());
});
