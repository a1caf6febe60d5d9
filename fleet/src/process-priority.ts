/**
 * Lowers this process's CPU priority. A worker runs tenants' code; the
 * shields, schedulers and nats-server route every app's traffic. On a
 * machine they share, a worker that runs at a lower priority (a higher nice
 * value) lets them answer at once however many CPU-bound renders it runs,
 * while renders still share the CPU among themselves as before. (Within a
 * Kubernetes pod, CPU is the pod's own cgroup's: nice matters only among
 * the pod's threads.)
 *
 * @module
 */
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { InvalidOptionError } from '@flotilla/protocol';

/** Highest nice value (lowest priority) Linux and macOS accept. */
const MAX_NICE = 19;

/**
 * Adds `by` (0…19) to the nice value of every thread of this process, and so
 * of every thread it starts later (they inherit it). Raising nice needs no
 * privilege. Resolves the nice value now in force (unchanged for `by` 0);
 * where threads cannot be listed (not Linux), the calling thread's.
 *
 * @throws InvalidOptionError naming `nice` when `by` is not an integer in 0…19.
 */
export function lowerProcessPriority(by: number): number {
  if (!Number.isInteger(by) || by < 0 || by > MAX_NICE) {
    throw new InvalidOptionError('nice', `must be an integer from 0 to ${MAX_NICE}, got ${by}`);
  }
  const target = Math.min(MAX_NICE, getPriority() + by);
  if (by === 0) return getPriority();
  let threads: number[];
  try {
    // Linux: setpriority() on a thread id sets that thread only.
    threads = readdirSync('/proc/self/task').map(Number);
  } catch {
    threads = [0];
  }
  for (const tid of threads) {
    try {
      setPriority(tid, Math.max(target, getPriority(tid)));
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return getPriority();
}
