/**
 * `flotilla status`: environments, and each region's schedulers and workers heard on NATS.
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import type { NatsConnection } from '@nats-io/transport-node';
import { type ControlCommand, type Ctx, out } from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { envRows, publicEnv, table } from './tables.ts';

/** Region → live schedulers and workers, from the heartbeats heard during `ms`. */
async function listenToFleet(
  nc: NatsConnection,
  ms: number,
): Promise<Map<string, { schedulers: Set<string>; workers: Set<string> }>> {
  const regions = new Map<string, { schedulers: Set<string>; workers: Set<string> }>();
  const at = (region: string) => {
    let r = regions.get(region);
    if (!r) {
      r = { schedulers: new Set(), workers: new Set() };
      regions.set(region, r);
    }
    return r;
  };
  const decoder = new TextDecoder();
  const idOf = (data: Uint8Array, field: string): string => {
    try {
      const v = JSON.parse(decoder.decode(data)) as Record<string, unknown>;
      return String(v[field] ?? '?');
    } catch {
      return '?';
    }
  };
  const subs = [
    nc.subscribe('flotilla.*.scheduler.heartbeat', {
      callback: (_err, msg) => {
        at(msg.subject.split('.')[1] ?? '?').schedulers.add(idOf(msg.data, 'schedulerId'));
      },
    }),
    nc.subscribe('flotilla.*.heartbeat', {
      callback: (_err, msg) => {
        at(msg.subject.split('.')[1] ?? '?').workers.add(idOf(msg.data, 'workerId'));
      },
    }),
  ];
  await new Promise((r) => setTimeout(r, ms));
  for (const s of subs) s.unsubscribe();
  return regions;
}

async function status(ctx: Ctx, cp: ControlApi, nc: NatsConnection): Promise<number> {
  const [environments, list, regions] = await Promise.all([
    cp.environments(),
    cp.deployments(),
    listenToFleet(nc, 1500),
  ]);
  const regionRows = [
    ['REGION', 'SCHEDULERS', 'WORKERS'],
    ...[...regions]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, r]) => [name, String(r.schedulers.size), String(r.workers.size)]),
  ];
  const data = {
    nats: nc.getServer(),
    regions: Object.fromEntries(
      [...regions].map(([k, r]) => [k, { schedulers: r.schedulers.size, workers: r.workers.size }]),
    ),
    environments: environments.map(publicEnv),
    deployments: list.length,
  };
  const text = [
    `fleet at ${nc.getServer()}: ${list.length} deployments, ${environments.length} environments`,
    '',
    regions.size === 0 ? 'no scheduler or worker heartbeats heard in 1.5 s' : table(regionRows),
    '',
    environments.length === 0 ? 'no environments yet' : table(envRows(ctx, environments)),
  ].join('\n');
  return out(ctx, data, `${text}\n`);
}

/** `flotilla status`, for the command table. */
export const statusCommand: ControlCommand = {
  name: 'status',
  usage: `  flotilla status                                      environments, regions, schedulers and workers
`,
  options: {},
  run: (ctx) => withFleet(ctx, (cp, nc) => status(ctx, cp, nc)),
};
