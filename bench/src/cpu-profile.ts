/**
 * Reads a V8 `.cpuprofile` (from `node --cpu-prof`) and tells where the time
 * went: self time and inclusive time per function, and self time per
 * source file, as shares of the non-idle time.
 *
 * @module
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { round, table } from './stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  children?: number[];
}

/** A V8 CPU profile (`.cpuprofile`, the inspector's `Profiler.stop`, isolated-vm's `stopCpuProfiler`). */
export interface CpuProfile {
  nodes: ProfileNode[];
  /** µs, on the monotonic clock (`process.hrtime` of any process on the machine). */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(['(idle)', '(program)']);

function shortUrl(url: string): string {
  if (url === '') return '';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) return url.slice(nm + '/node_modules/'.length);
  const m =
    /\/(shield|fleet|protocol|transport|manifest|sdk|deploy|runtime|workers|bench)\/src\/(.*)$/.exec(
      url,
    );
  if (m) return `${m[1]}/${m[2]}`;
  return url.replace(/^file:\/\//, '');
}

/** A time window on the monotonic clock, µs (as `process.hrtime.bigint() / 1000n`). */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/**
 * A printable summary of the profile at `file`: the `top` functions by self
 * time, the same by inclusive time, and self time per file. With `windows`,
 * only the samples taken inside them count (e.g. while a load ran: the
 * profile's clock is the machine's monotonic clock).
 */
export async function summarizeCpuProfile(
  file: string,
  top = 20,
  windows?: ProfileWindow[],
  /** Requests served in the windows: adds a µs-per-request column. */
  requests?: number,
): Promise<string> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  return summarizeProfile(profile, top, windows, requests);
}

/** {@link summarizeCpuProfile} of a profile in memory. */
export function summarizeProfile(
  profile: CpuProfile,
  top = 20,
  windows?: ProfileWindow[],
  requests?: number,
  /** Nodes counted as idle. @default `(idle)` and `(program)` */
  idleNames: ReadonlySet<string> = IDLE,
): string {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const label = (n: ProfileNode) => {
    const f = n.callFrame;
    const where = shortUrl(f.url);
    // Minified bundles are a few long lines: the column tells their functions apart.
    const col = f.columnNumber !== undefined && f.columnNumber >= 0 ? `:${f.columnNumber + 1}` : '';
    return `${f.functionName || '(anonymous)'}${where ? ` ${where}:${f.lineNumber + 1}${col}` : ''}`;
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  /** Inclusive time of functions outside Node's own code (the app's and its packages'). */
  const ownInclusive = new Map<string, number>();
  const perFile = new Map<string, number>();
  let active = 0;
  let idle = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    const node = byId.get(profile.samples[i] ?? -1);
    const dt = (profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0) / 1000; // µs → ms
    if (!node) continue;
    if (windows && !windows.some((w) => at >= w.fromUs && at <= w.toUs)) continue;
    if (idleNames.has(node.callFrame.functionName)) {
      idle += dt;
      continue;
    }
    active += dt;
    const l = label(node);
    self.set(l, (self.get(l) ?? 0) + dt);
    const f = shortUrl(node.callFrame.url) || node.callFrame.functionName || '(native)';
    perFile.set(f, (perFile.get(f) ?? 0) + dt);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const n = byId.get(id);
      if (!n || n.callFrame.functionName === '(root)') continue;
      const k = label(n);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
      const url = n.callFrame.url;
      if (url !== '' && !url.startsWith('node:') && !url.startsWith('wasm:')) {
        ownInclusive.set(k, (ownInclusive.get(k) ?? 0) + dt);
      }
    }
  }
  const rows = (m: Map<string, number>, title: string) => {
    const sorted = [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
    return table([
      [title, 'ms', '% of busy', ...(requests ? ['µs/req'] : [])],
      ...sorted.map(([k, v]) => [
        k.slice(0, 110),
        round(v, 0),
        round((v / active) * 100, 1),
        ...(requests ? [round((v * 1000) / requests, 1)] : []),
      ]),
    ]);
  };
  return [
    `busy ${round(active, 0)} ms${requests ? ` (${round((active * 1000) / requests, 1)} µs per request)` : ''}, idle ${round(idle, 0)} ms`,
    rows(self, 'self time'),
    '',
    rows(inclusive, 'inclusive time'),
    '',
    rows(ownInclusive, 'inclusive time, code outside Node itself'),
    '',
    rows(perFile, 'self time by file'),
  ].join('\n');
}

/** A process profiled with `--cpu-prof`: where its profiles are, and when its load ran. */
export interface ProfiledProcess {
  label: string;
  /** Its `--cpu-prof-dir`. */
  dir: string;
  windows: ProfileWindow[];
  /** Requests it served in the windows. */
  requests: number;
}

/** Prints the summary of each process's latest profile (once it exited and wrote it). */
export async function printProfiles(processes: readonly ProfiledProcess[]): Promise<void> {
  for (const p of processes) {
    const files = (await readdir(p.dir)).filter((f) => f.endsWith('.cpuprofile'));
    const latest = files.sort().at(-1);
    if (!latest) continue;
    console.log(
      `\nCPU profile of ${p.label} (${join(p.dir, latest)}), samples taken while its load ran (~${p.requests} requests):`,
    );
    console.log(await summarizeCpuProfile(join(p.dir, latest), 30, p.windows, p.requests));
  }
}
