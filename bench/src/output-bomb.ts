import { readFileSync } from 'node:fs';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { connectNats } from '@flotilla/fleet';
import { type Fleet, type FleetPublisher, publishBundle, startFleet } from '@flotilla/test-harness';
import { runBench } from './bench-process.ts';
import { printResult, round, table } from './stats.ts';

const BOMB_BYTES = 50 * 1024 * 1024;
const CONCURRENT = 20;
const BURSTS = 3;
/** The target for twenty concurrent attempts. */
const TARGET_MB = 64;

const APPS: Array<{ name: string; code: string }> = [
  { name: 'page', code: `Flotilla.serve(() => new Response('<h1>ok</h1>'.repeat(100)));` },
  {
    name: 'bomb',
    code: `Flotilla.serve(() => new Response('x'.repeat(${BOMB_BYTES})));`,
  },
];

/** Publishes each app as its `production` deployment (a catch-all render route). */
const publish: FleetPublisher = async (natsUrl, dir) => {
  const nc = await connectNats(natsUrl, 'bench-publisher');
  try {
    const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
    for (const app of APPS) await publishBundle(controlPlane, dir, app);
  } finally {
    await nc.close();
  }
  return { close: async () => {} };
};

/** Resident set of process `pid`, in MB. */
function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

async function get(fleet: Fleet, path: string): Promise<{ status: number; code: string }> {
  const res = await fetch(`${fleet.shield.url}${path}`, { signal: AbortSignal.timeout(60_000) });
  await res.arrayBuffer();
  return { status: res.status, code: res.headers.get('x-flotilla-error') ?? '' };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Figures of the bench (also its RESULT line). */
export interface OutputBombResult {
  bench: 'output-bomb';
  attempts: number;
  baselineMb: number;
  /** Highest RSS above the baseline during any burst. */
  peakGrowthMb: number;
  /** RSS above the baseline 1 s after the last burst. */
  settledGrowthMb: number;
  /** settledGrowthMb over every attempt made. */
  perAttemptMb: number;
  targetMb: number;
  /** Answers by status and code (all `502 FLOTILLA_ERR_OUTPUT_LIMIT` when it works). */
  answers: Record<string, number>;
  pass: boolean;
}

/** Runs the bench, prints its table and the RESULT line, and returns the figures. */
export async function main(): Promise<OutputBombResult> {
  const fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    region: 'bench',
    args: { worker: ['--threads', '2'] },
    publish,
  });
  try {
    const pid = fleet.started.worker?.[0]?.child.pid;
    if (pid === undefined) throw new Error('output-bomb: the fleet started no worker');
    // Warm-up: both apps loaded on both threads, one bomb each, then quiet.
    for (let i = 0; i < 8; i++) await get(fleet, '/page/');
    await Promise.all([get(fleet, '/bomb/'), get(fleet, '/bomb/')]);
    await sleep(1000);
    const baselineMb = rssMb(pid);
    const answers: Record<string, number> = {};
    let peakMb = baselineMb;
    const rows: Array<Array<string | number>> = [['burst', 'peak RSS MB', 'after MB', 'growth MB']];
    for (let burst = 1; burst <= BURSTS; burst++) {
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peakMb = Math.max(peakMb, rssMb(pid));
          await sleep(20);
        }
      })();
      const results = await Promise.all(
        Array.from({ length: CONCURRENT }, () => get(fleet, '/bomb/')),
      );
      sampling = false;
      await sampler;
      for (const r of results) {
        const key = `${r.status} ${r.code}`;
        answers[key] = (answers[key] ?? 0) + 1;
      }
      await sleep(1000);
      const after = rssMb(pid);
      rows.push([burst, round(peakMb, 1), round(after, 1), round(after - baselineMb, 1)]);
    }
    const settledMb = rssMb(pid);
    const attempts = CONCURRENT * BURSTS;
    const result: OutputBombResult = {
      bench: 'output-bomb',
      attempts,
      baselineMb: round(baselineMb, 1),
      peakGrowthMb: round(peakMb - baselineMb, 1),
      settledGrowthMb: round(settledMb - baselineMb, 1),
      perAttemptMb: round((settledMb - baselineMb) / attempts, 2),
      targetMb: TARGET_MB,
      answers,
      pass:
        peakMb - baselineMb <= TARGET_MB && answers[`502 FLOTILLA_ERR_OUTPUT_LIMIT`] === attempts,
    };
    process.stdout.write(
      `worker RSS under ${CONCURRENT} concurrent ${BOMB_BYTES / 1024 / 1024} MB responses (cap 10 MiB), baseline ${result.baselineMb} MB\n`,
    );
    process.stdout.write(`${table(rows)}\n`);
    process.stdout.write(
      `peak growth ${result.peakGrowthMb} MB (target ≤ ${TARGET_MB} MB), settled ${result.settledGrowthMb} MB, ${result.perAttemptMb} MB per attempt; answers ${JSON.stringify(answers)}\n`,
    );
    printResult({ ...result });
    return result;
  } finally {
    await fleet.stop();
  }
}

if (import.meta.main) {
  await runBench('output-bomb', async () => {
    if (!(await main()).pass) process.exitCode = 1;
  });
}
