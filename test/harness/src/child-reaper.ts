import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * Process-wide bookkeeping so that nothing the harness starts outlives the
 * test process: live children are SIGKILLed and temp dirs removed on
 * `process.on('exit')`, and also on SIGTERM / SIGINT / SIGHUP, because vitest
 * stops its `forks` workers with SIGTERM, which never reaches 'exit' handlers.
 */

const liveChildren = new Set<ChildProcess>();
/** Process groups started with their leader (their other processes may outlive it). */
const liveGroups = new Set<number>();
const tempDirs = new Set<string>();
const reapSignals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
let installed = false;

/** Kills every tracked child (SIGKILL) and removes every tracked temp dir, synchronously. */
export function reapAll(): void {
  for (const child of liveChildren) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  liveChildren.clear();
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  liveGroups.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
  tempDirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  reapAll();
  // If nobody else handles this signal, restore the default behaviour
  // (terminate) that our listener suppressed, by re-raising it.
  if (process.listenerCount(signal) === 1) {
    for (const s of reapSignals) process.removeListener(s, onSignal);
    process.removeListener('exit', reapAll);
    installed = false;
    process.kill(process.pid, signal);
  }
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', reapAll);
  for (const signal of reapSignals) process.on(signal, onSignal);
}

/**
 * Tracks a child until it exits; it is SIGKILLed if the test process ends
 * first. With `group`, the child leads a process group of its own, and the
 * whole group is SIGKILLed until its output closes (its last process is gone).
 */
export function trackChild(child: ChildProcess, options: { group?: boolean } = {}): void {
  install();
  liveChildren.add(child);
  const pgid = child.pid;
  if (options.group && pgid !== undefined) {
    liveGroups.add(pgid);
    child.once('close', () => liveGroups.delete(pgid));
  }
  const forget = (): void => {
    liveChildren.delete(child);
  };
  child.once('exit', forget);
  child.once('error', () => {
    if (child.pid === undefined) forget();
  });
}

/** Tracks a temp dir; it is removed if the test process ends before {@link untrackTempDir}. */
export function trackTempDir(dir: string): void {
  install();
  tempDirs.add(dir);
}

/** Stops tracking a temp dir (call after removing it yourself). */
export function untrackTempDir(dir: string): void {
  tempDirs.delete(dir);
}
