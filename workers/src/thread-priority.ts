/**
 * Lowers the CPU priority of the calling thread only. A worker's render
 * threads run tenants' code and call this at start (`RenderThreadData.nice`):
 * they yield the CPU to the shields, schedulers and nats-server on a machine
 * they share, and to the worker's own main thread, which is routing too (it
 * heartbeats, takes renders off NATS and sends their answers). Niced with
 * the renders, its heartbeats came late on a busy machine and the
 * schedulers took a live worker for lost.
 *
 * Linux keeps a nice value per thread: `setpriority()` on pid 0 sets the
 * calling thread's, and the threads it starts later inherit it. Elsewhere it
 * may set the whole process's, as before.
 *
 * @module
 */
import { getPriority, setPriority } from 'node:os';
import { InvalidOptionError } from '@flotilla/protocol';

/** Highest nice value (lowest priority) Linux and macOS accept. */
export const MAX_NICE = 19;

/**
 * Adds `by` (0…19) to the calling thread's nice value; resolves the nice
 * value now in force. Raising nice needs no privilege; where it is refused
 * all the same, the thread keeps its priority.
 *
 * @throws InvalidOptionError naming `nice` when `by` is not an integer in 0…19.
 */
export function lowerThreadPriority(by: number): number {
  if (!Number.isInteger(by) || by < 0 || by > MAX_NICE) {
    throw new InvalidOptionError('nice', `must be an integer from 0 to ${MAX_NICE}, got ${by}`);
  }
  if (by === 0) return getPriority();
  try {
    setPriority(Math.min(MAX_NICE, getPriority() + by));
  } catch {
    // Not allowed here: renders run at the thread's priority as it is.
  }
  return getPriority();
}
