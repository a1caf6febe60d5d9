import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fleetWorkerCommand, LocalSupervisor, processLauncher } from '@flotilla/autoscaler';
import { decodeHeartbeat, type Heartbeat, regionSubjects } from '@flotilla/protocol';
import { FLEET_BIN, type NatsServerHandle, startNatsServer, waitFor } from '@flotilla/test-harness';
import { NatsTransport } from '@flotilla/transport';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/** The local supervisor running real `flotilla start --role worker` processes. */

const REGION = 'sup';

let nats: NatsServerHandle;
let storeDir: string;
let transport: NatsTransport;
const beats = new Map<string, { hb: Heartbeat; at: number }>();

beforeAll(async () => {
  // Worker processes read deployments from the control plane (JetStream).
  nats = await startNatsServer({ jetstream: true });
  storeDir = await mkdtemp(join(tmpdir(), 'flotilla-supervisor-'));
  transport = new NatsTransport({ connection: await connect({ servers: nats.url }) });
  transport.subscribe(regionSubjects(REGION).heartbeat, (msg) => {
    const hb = decodeHeartbeat(msg);
    beats.set(hb.workerId, { hb, at: Date.now() });
  });
});

afterAll(async () => {
  await transport?.drain();
  await nats?.stop();
  if (storeDir) await rm(storeDir, { recursive: true, force: true });
});

/** Workers that heartbeat (within 1 s) and are not draining. */
function liveWorkers(): string[] {
  const now = Date.now();
  return [...beats.values()]
    .filter((b) => now - b.at < 1000 && !b.hb.draining)
    .map((b) => b.hb.workerId);
}

describe('LocalSupervisor with fleet worker processes', () => {
  it('starts real workers that heartbeat, drains the newest on scale-down, and drains all on close', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const supervisor = new LocalSupervisor({
      launcher: processLauncher({
        command: fleetWorkerCommand({
          nats: nats.url,
          bin: FLEET_BIN,
          region: REGION,
          storeDir,
          threads: 1,
          extraArgs: ['--heartbeat-ms', '200'],
        }),
        readyTimeoutMs: 30_000,
      }),
      minWorkers: 1,
      maxWorkers: 3,
      log: (l) => lines.push(l),
    });
    try {
      supervisor.scale(2);
      await supervisor.whenSettled(45_000);
      await waitFor(() => liveWorkers().length === 2, {
        timeoutMs: 5_000,
        message: 'two workers never heartbeat',
      });
      const readyMs = lines.filter((l) => l.msg === 'worker ready').map((l) => l.ms);
      console.log(`fleet worker process: spawn → ready line in ${readyMs.join(', ')} ms`);

      supervisor.scale(1);
      expect(supervisor.status()).toMatchObject({ ready: 1, draining: 1 });
      await supervisor.whenSettled(30_000);
      const exited = lines.filter((l) => l.msg === 'worker exited');
      expect(exited).toHaveLength(1);
      expect(exited[0]).toMatchObject({ exit: 'code 0' });
      await waitFor(() => liveWorkers().length === 1, {
        timeoutMs: 5_000,
        message: 'the drained worker still heartbeats',
      });
    } finally {
      await supervisor.close();
    }
    const exits = lines.filter((l) => l.msg === 'worker exited');
    expect(exits).toHaveLength(2);
    expect(exits.every((l) => l.exit === 'code 0')).toBe(true);
    expect(lines.filter((l) => l.msg === 'worker crashed')).toEqual([]);
    await waitFor(() => liveWorkers().length === 0, { timeoutMs: 5_000 });
  }, 90_000);
});
