/**
 * Part 1 of the shield-cache bench, hit throughput: the servers compared
 * (the caching shield, nginx `proxy_cache`, the node:http reference), each
 * checked to serve the very same hit, then driven in turn by one load
 * generator in alternating slices, with the CPU each server and the rest of
 * the machine used meanwhile.
 *
 * @module
 */
import type { RoleProcess } from '@flotilla/test-harness';
import type { ProfileWindow } from './cpu-profile.ts';
import { type Got, getBytes, header } from './http-get.ts';
import type { HttpLoad, LoadResult } from './http-load.ts';
import type { RunningNginx } from './nginx.ts';
import type { NodeHttpReference } from './node-http-reference.ts';
import { machineCpuMs, processCpuMs } from './proc-stat.ts';
import {
  ANY,
  CONNECTIONS,
  HEADERS,
  LISTING,
  NGINX_HIT,
  SECONDS,
  SHIELD_HIT,
  SLICE_WARMUP_MS,
  SLICES,
} from './shield-cache-settings.ts';
import { now, p50p99, round } from './stats.ts';

/** An nginx in front of the caching shield, and its row's name. */
export interface NamedNginx {
  name: string;
  nginx: RunningNginx;
}

/** One side of the hit-throughput comparison. */
export interface HitSide {
  name: string;
  port: number;
  hitPattern: string;
  cpuMs: () => number;
  runs: LoadResult[];
  serverCpuMs: number;
  /** CPU time of the whole machine in its windows (all CPUs), ms. */
  machineBusyMs: number;
  /** When its load ran, on the monotonic clock (for the CPU profile). */
  windows: ProfileWindow[];
}

/** Figures of one side, over all its slices. */
export interface SideFigures {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  hitRatio: number;
  non200: number;
  errors: number;
  reconnects: number;
  bytesPerResponse: number;
  /** Server CPU, share of one core. */
  serverCpu: number;
  serverCpuUsPerRequest: number;
  /** Load-generator CPU, share of one core (all its threads). */
  loadGenCpu: number;
  /** CPU used by everything else on the machine (other processes, interrupts), in cores. */
  otherCpu: number;
  firstError?: string;
}

/**
 * Renders the listing once through the shield, then checks that the shield
 * and every nginx answer it as a cache hit with the same bytes; resolves
 * with the shield's hit.
 */
export async function checkSameHits(shieldUrl: string, nginxes: NamedNginx[]): Promise<Got> {
  const first = await getBytes(`${shieldUrl}${LISTING}`);
  if (first.status !== 200) {
    throw new Error(`GET ${LISTING}: ${first.status} ${first.body.toString().slice(0, 300)}`);
  }
  const hit = await getBytes(`${shieldUrl}${LISTING}`);
  if (!new RegExp(SHIELD_HIT.slice(4), 'i').test(`cache-status: ${header(hit, 'cache-status')}`)) {
    throw new Error(
      `the shield did not serve ${LISTING} from its cache: cache-status ${header(hit, 'cache-status')}`,
    );
  }
  for (const { name, nginx } of nginxes) {
    await getBytes(`${nginx.url}${LISTING}`);
    const n = await getBytes(`${nginx.url}${LISTING}`);
    if (header(n, 'x-nginx-cache') !== 'HIT') {
      throw new Error(
        `${name}: second GET not a cache hit (X-Nginx-Cache ${header(n, 'x-nginx-cache')})`,
      );
    }
    if (!n.body.equals(hit.body)) {
      throw new Error(
        `${name} serves other bytes than the shield (${n.body.length} vs ${hit.body.length})`,
      );
    }
  }
  return hit;
}

/** The sides, in the table's order: the shield, every nginx, the node:http reference. */
export function hitSides(
  shield: RoleProcess,
  nginxes: NamedNginx[],
  nodeRef: NodeHttpReference | undefined,
): HitSide[] {
  const side = (name: string, port: number, hitPattern: string, cpuMs: () => number): HitSide => ({
    name,
    port,
    hitPattern,
    cpuMs,
    runs: [],
    serverCpuMs: 0,
    machineBusyMs: 0,
    windows: [],
  });
  const shieldPid = shield.child.pid;
  return [
    side('shield (1 Node process)', Number(new URL(shield.url).port), SHIELD_HIT, () =>
      processCpuMs(shieldPid),
    ),
    ...nginxes.map(({ name, nginx }) => side(name, nginx.port, NGINX_HIT, () => nginx.cpuMs())),
    ...(nodeRef
      ? [
          side('plain node:http, same bytes (reference)', nodeRef.port, ANY, () =>
            processCpuMs(nodeRef.child.pid),
          ),
        ]
      : []),
  ];
}

/** Drives every side in {@link SLICES} alternating slices (A B C C B A), recording into the sides. */
export async function hitThroughput(load: HttpLoad, sides: HitSide[]): Promise<void> {
  const sliceMs = (SECONDS * 1000) / SLICES;
  for (let slice = 0; slice < SLICES; slice++) {
    const order = slice % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      // Server CPU over warm-up + window, scaled to the window (steady load throughout).
      const cpu0 = side.cpuMs();
      const machine0 = machineCpuMs().busyMs;
      const t0 = now();
      const fromUs = Number(process.hrtime.bigint() / 1000n);
      const run = await load.run({
        host: '127.0.0.1',
        port: side.port,
        path: LISTING,
        headers: HEADERS,
        connections: CONNECTIONS,
        warmupMs: SLICE_WARMUP_MS,
        durationMs: sliceMs,
        hitPattern: side.hitPattern,
      });
      const elapsed = now() - t0;
      side.windows.push({ fromUs, toUs: Number(process.hrtime.bigint() / 1000n) });
      side.serverCpuMs += ((side.cpuMs() - cpu0) * sliceMs) / elapsed;
      side.machineBusyMs += ((machineCpuMs().busyMs - machine0) * sliceMs) / elapsed;
      side.runs.push(run);
    }
  }
}

/** What `side` measured over all its slices. */
export function figures(side: HitSide): SideFigures {
  const windowMs = side.runs.reduce((n, r) => n + r.windowMs, 0);
  const requests = side.runs.reduce((n, r) => n + r.requests, 0);
  const all = new Float64Array(requests);
  let at = 0;
  for (const r of side.runs) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  const lat = p50p99(Array.from(all));
  const sum = (f: (r: LoadResult) => number) => side.runs.reduce((n, r) => n + f(r), 0);
  const firstError = side.runs.find((r) => r.firstError)?.firstError;
  return {
    rps: round((requests / windowMs) * 1000, 0),
    p50: lat.p50,
    p99: lat.p99,
    requests,
    hitRatio: requests === 0 ? 0 : round(sum((r) => r.hits) / requests, 4),
    non200: sum((r) => r.non200),
    errors: sum((r) => r.errors),
    reconnects: sum((r) => r.reconnects),
    bytesPerResponse: requests === 0 ? 0 : Math.round(sum((r) => r.bytes) / requests),
    serverCpu: round(side.serverCpuMs / windowMs, 2),
    serverCpuUsPerRequest: requests === 0 ? 0 : round((side.serverCpuMs * 1000) / requests, 1),
    loadGenCpu: round(sum((r) => r.cpuMs) / windowMs, 2),
    otherCpu: round(
      Math.max(0, side.machineBusyMs - side.serverCpuMs - sum((r) => r.cpuMs)) / windowMs,
      2,
    ),
    ...(firstError ? { firstError } : {}),
  };
}
