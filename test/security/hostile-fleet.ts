import { httpGet, type RoleProcess } from '@flotilla/test-harness';
import { startProcessFleet } from '../e2e/fleet-setup.ts';
import type { TestBundle } from '../support/bundles.ts';

/** A bundle published as its own app, served at `/<name>/`. */
export type HostileBundle = TestBundle;

/** One worker process (2 threads) behind a scheduler and a shield, on a real nats-server. */
export interface HostileFleet {
  shield: RoleProcess;
  worker: RoleProcess;
  stop(): Promise<void>;
}

/**
 * Publishes the React example (the healthy deployment) and `bundles`, then
 * starts a scheduler, ONE worker process with two threads and the given
 * limits, and a shield, each as its own OS process.
 */
export async function startHostileFleet(
  bundles: HostileBundle[],
  workerArgs: string[],
): Promise<HostileFleet> {
  const fleet = await startProcessFleet({
    schedulers: 1,
    workers: 1,
    bundles,
    workerArgs: ['--threads', '2', ...workerArgs],
  });
  const worker = fleet.workers[0];
  if (!worker) throw new Error('the fleet started no worker');
  return { shield: fleet.shield, worker, stop: () => fleet.stop() };
}

/** The value of one Prometheus series (labels must match exactly those given), 0 if absent. */
export async function metric(
  url: string,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const { body } = await httpGet(`${url}/metrics`);
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of body.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf('}'));
    const got = labelText.split(',').sort();
    if (wanted.every((w) => got.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}
