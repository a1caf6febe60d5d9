/**
 * CPU time of other processes, from Linux `/proc/<pid>/stat` (user + system,
 * all threads), to tell which process limited a load run. Returns NaN where
 * `/proc` is not there.
 *
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`, 100 on Linux). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  pgrp: number;
  cpuMs: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After comm: [0] state, [1] ppid, [2] pgrp, … [11] utime, [12] stime.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { pgrp: Number(fields[2]), cpuMs: ((utime + stime) * 1000) / TICKS_PER_SECOND };
}

/** CPU time used so far by process `pid`, ms; NaN when unknown. */
export function processCpuMs(pid: number): number {
  return readStat(pid)?.cpuMs ?? Number.NaN;
}

/** Pids of the live processes of process group `pgid`. */
export function groupPids(pgid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const name of entries) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    if (readStat(pid)?.pgrp === pgid) out.push(pid);
  }
  return out;
}

/**
 * CPU time used so far by the live processes of group `pgid`, ms (a process
 * that exited meanwhile drops out: sample around short windows only).
 */
export function groupCpuMs(pgid: number): number {
  const pids = groupPids(pgid);
  if (pids.length === 0) return Number.NaN;
  let sum = 0;
  for (const pid of pids) sum += readStat(pid)?.cpuMs ?? 0;
  return sum;
}

/** CPU time of the whole machine so far (`/proc/stat`), ms summed over CPUs: busy and all. */
export function machineCpuMs(): { busyMs: number; totalMs: number } {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'latin1').split('\n')[0];
  } catch {
    return { busyMs: Number.NaN, totalMs: Number.NaN };
  }
  // cpu user nice system idle iowait irq softirq steal …
  const f = (line ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((n, x) => n + x, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const toMs = 1000 / TICKS_PER_SECOND;
  return { busyMs: (total - idle) * toMs, totalMs: total * toMs };
}
