import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { connectNats } from '@flotilla/fleet';
import { type Fleet, metricValue, publishBundle, startFleet } from '@flotilla/test-harness';
import {
  type HoldingBackend,
  measureNeighbours,
  NEIGHBOUR_ATTACKS,
  NEIGHBOUR_B,
  quantile,
  sample,
  startHoldingBackend,
} from '@flotilla/test-harness/neighbours';
import { hardTimeout, runBench } from './bench-process.ts';
import { printResult, round, table } from './stats.ts';

const ROUNDS = Number(process.env.BENCH_NEIGHBOURS_ROUNDS) || 8;
/** An attack window spans more than one of A's renders (a CPU bomb: its 1 s CPU limit). */
const WINDOW_MS = Number(process.env.BENCH_NEIGHBOURS_WINDOW_MS) || 2500;
/** 2 workers × 1 thread × 1 render per thread. */
const SLOTS = 2;
const HOLD_MS = 4000;

/** Runs the bench; prints its table and `RESULT` line and resolves with the figures. */
export async function main(): Promise<Record<string, unknown>> {
  hardTimeout('neighbours', 600_000);
  let backend: HoldingBackend | undefined;
  let fleet: Fleet | undefined;
  try {
    backend = await startHoldingBackend(HOLD_MS);
    const holding = backend;
    const apps = [NEIGHBOUR_B, ...NEIGHBOUR_ATTACKS.map((a) => a.app(holding.url))];
    fleet = await startFleet({
      region: 'bench',
      schedulers: 1,
      workers: 2,
      shields: 1,
      args: {
        worker: ['--tasks-per-thread', '1', '--log-format', 'json'],
        scheduler: ['--log-format', 'json'],
        shield: ['--log-format', 'json'],
      },
      publish: async (natsUrl, dir) => {
        const nc = await connectNats(natsUrl, 'bench-publisher');
        try {
          const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
          for (const app of apps) await publishBundle(controlPlane, dir, app);
        } finally {
          await nc.close();
        }
        return undefined;
      },
    });
    const shield = fleet.shield.url;
    const [scheduler] = fleet.live('scheduler');
    if (!scheduler) throw new Error('no scheduler');
    for (let i = 0; i < 10; i++) {
      await Promise.all([
        sample(shield, '/neighbour-b/warm-a', 1),
        sample(shield, '/neighbour-b/warm-b', 1),
      ]);
    }
    const rows: Array<Array<string | number>> = [
      [
        'attack',
        'B p50 alone',
        'B p99 alone',
        'B p50 attacked',
        'B p99 attacked',
        'ratio p99',
        'B errors',
      ],
    ];
    const results: Record<string, unknown>[] = [];
    for (const kind of NEIGHBOUR_ATTACKS) {
      const app = kind.app(holding.url).name;
      const m = await measureNeighbours({
        shieldUrl: shield,
        bPath: '/neighbour-b/',
        aPath: `/${app}/`,
        concurrency: (kind.slotsMultiple ?? 2) * SLOTS,
        rounds: ROUNDS,
        perRound: 50,
        windowMs: WINDOW_MS,
        inFlightOfA: () =>
          metricValue(scheduler.adminUrl, 'flotilla_scheduler_app_in_flight', { app }),
        settleA: () => holding.releaseAll(),
      });
      const r = {
        attack: kind.name,
        samples: m.baseline.ms.length,
        baselineMs: {
          p50: round(quantile(m.baseline.ms, 0.5)),
          p99: round(quantile(m.baseline.ms, 0.99)),
        },
        attackedMs: {
          p50: round(quantile(m.under.ms, 0.5)),
          p99: round(quantile(m.under.ms, 0.99)),
        },
        errors: m.baseline.errors.length + m.under.errors.length,
        attackSent: m.attackSent,
        attackStatuses: m.attackStatuses,
      };
      const ratio = round(r.attackedMs.p99 / r.baselineMs.p99, 2);
      results.push({ ...r, ratio });
      rows.push([
        kind.name,
        r.baselineMs.p50,
        r.baselineMs.p99,
        r.attackedMs.p50,
        r.attackedMs.p99,
        ratio,
        r.errors,
      ]);
    }
    console.log('');
    console.log(table(rows));
    console.log('');
    for (const r of results) {
      console.log(
        `summary: ${r.attack}: B's p99 under A's attack (${SLOTS * 2} in flight on ${SLOTS} slots) is ${r.ratio}× its baseline p99, ${r.errors} errors; A sent ${r.attackSent} ${JSON.stringify(r.attackStatuses)}`,
      );
    }
    const result = {
      bench: 'neighbours',
      slots: SLOTS,
      rounds: ROUNDS,
      windowMs: WINDOW_MS,
      attacks: results,
      ratio: Math.max(...results.map((r) => r.ratio as number)),
    };
    printResult(result);
    return result;
  } finally {
    await fleet?.stop();
    await backend?.close();
  }
}

if (import.meta.main) await runBench('neighbours', main);
