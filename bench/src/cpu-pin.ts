/**
 * Keeps a server and the load generator driving it on CPUs of their own,
 * with util-linux `taskset` (Linux). On a machine with few CPUs the kernel
 * otherwise moves both around, at times onto one CPU, and a CPU-bound
 * server loses throughput to that, not to its own code (the shield-cache
 * bench: 0.56–0.68 unpinned, 0.70–0.72 pinned, same machine, same hour).
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Why pinning is not possible here (`undefined` when it is): fewer than 2
 * CPUs, or no `taskset`.
 */
export function pinningUnavailable(): string | undefined {
  if (availableParallelism() < 2) return 'fewer than 2 CPUs';
  try {
    execFileSync('taskset', ['-p', String(process.pid)], { stdio: 'pipe' });
    return undefined;
  } catch {
    return 'taskset not found (Debian package util-linux)';
  }
}

/** The CPU list process `pid` may run on, as `taskset` prints it (`0,1`, `0-3`). */
export function cpusOf(pid: number): string {
  const out = execFileSync('taskset', ['-c', '-p', String(pid)], { encoding: 'utf8' });
  const list = out.slice(out.lastIndexOf(':') + 1).trim();
  if (!/^[\d,-]+$/.test(list)) throw new Error(`taskset printed no CPU list for ${pid}: ${out}`);
  return list;
}

/** Lets every thread of process `pid` run on `cpus` only (a `taskset -c` list such as `1` or `0-3`). */
export function pinProcess(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-c', '-p', cpus, String(pid)], { stdio: 'pipe' });
}

/**
 * Pins this process (whose thread generates the load) to CPU 0 and every
 * thread of `serverPids` to CPU 1; returns a function that gives each of
 * them back the CPUs it had.
 */
export function pinApart(serverPids: readonly number[]): () => void {
  const pids = [process.pid, ...serverPids];
  const before = pids.map((pid) => ({ pid, cpus: cpusOf(pid) }));
  pinProcess(process.pid, '0');
  for (const pid of serverPids) pinProcess(pid, '1');
  return () => {
    for (const { pid, cpus } of before) pinProcess(pid, cpus);
  };
}
