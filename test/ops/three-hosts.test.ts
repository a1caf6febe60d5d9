/**
 * A fleet across three hosts on NATS clustering: three network namespaces
 * (`ip netns`, veth on a bridge), each with a nats-server of one
 * three-node cluster (routes) and a shield, a scheduler and a worker
 * connected to it; the control plane's KV and object store on JetStream
 * with 3 replicas. Under steady load (an open-loop client that retries a
 * failed GET on the next shield, as a load balancer does), host 3 is cut
 * off (its nats-server and its roles SIGKILLed): no GET fails after
 * retries, the control plane stays readable and writable, and once the host
 * returns its server rejoins the cluster, catches up, and its roles serve
 * what was written while it was gone.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { ISOLATE_HOST_FLAGS } from '@flotilla/runtime';
import {
  type ChildHandle,
  FLEET_BIN,
  httpGet,
  httpRequest,
  publishBundle,
  waitFor,
} from '@flotilla/test-harness';
import { createTopology, type NetnsHost, type NetnsTopology } from '@flotilla/test-harness/netns';
import { type NatsCluster, startNatsCluster } from '@flotilla/test-harness/netns-nats';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clock, formatSummary, type RequestRecord, summarize } from '../fault/load.ts';

const ROLES = ['scheduler', 'worker', 'shield'] as const;
type Role = (typeof ROLES)[number];

let scratch: string;
let topology: NetnsTopology;
let cluster: NatsCluster;
let operator: NatsConnection;
let controlPlane: ControlPlane;
/** Each host's roles: the process and its traffic URL (the shield's) or admin URL. */
const roles = new Map<string, { child: ChildHandle; url: string }>();

function key(host: NetnsHost, role: Role): string {
  return `${host.name}/${role}`;
}

async function startRole(host: NetnsHost, role: Role): Promise<void> {
  const child = await topology.spawn(host, {
    command: process.execPath,
    args: [
      ...ISOLATE_HOST_FLAGS,
      FLEET_BIN,
      'start',
      '--nats',
      `nats://${host.ip}:4222`,
      '--role',
      role,
      '--region',
      'three-hosts',
      '--host',
      host.ip,
      '--port',
      '0',
      '--admin-port',
      '0',
      '--store',
      join(scratch, host.name, role),
      ...(role === 'worker' ? ['--threads', '1'] : []),
    ],
    env: { NODE_OPTIONS: '' },
    name: `${host.name}-${role}`,
    readyPattern: /^flotilla \w+ ready: /,
    readyTimeoutMs: 120_000,
  });
  const line = await child.waitForLine(/^flotilla \w+ ready: /, 1000);
  const url = / on (http:\/\/\S+)$/.exec(line)?.[1];
  if (url === undefined) throw new Error(`no URL in ${line}`);
  roles.set(key(host, role), { child, url });
}

async function startHost(host: NetnsHost): Promise<void> {
  await Promise.all([startRole(host, 'scheduler'), startRole(host, 'worker')]);
  await startRole(host, 'shield');
}

function shieldUrl(host: NetnsHost): string {
  return roles.get(key(host, 'shield'))?.url ?? '';
}

/** Routes each server has to the others (its monitoring `/routez`). */
async function routes(url: string): Promise<number> {
  const { status, body } = await httpGet(`${url}/routez`, { timeoutMs: 2000 });
  return status === 200 ? (JSON.parse(body).num_routes as number) : -1;
}

/** What this test reads of a JetStream stream's info. */
interface StreamInfo {
  error?: { description: string };
  config: { num_replicas: number };
  cluster?: { leader?: string; replicas?: { name: string; current: boolean; offline?: boolean }[] };
}

/** The control plane's streams, with their replicas and whether each is current. */
async function streamReplicas(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of ['KV_flotilla_control', 'OBJ_flotilla_blobs']) {
    // The JetStream API's STREAM.INFO, as any client (or `nats stream info`) asks it.
    const reply = await operator.request(`$JS.API.STREAM.INFO.${name}`, '', { timeout: 5000 });
    const info = reply.json<StreamInfo>();
    if (info.error) throw new Error(`${name}: ${info.error.description}`);
    const peers = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).map((r) => r.name)];
    const current = (info.cluster?.replicas ?? []).every((r) => r.current && !r.offline);
    out[name] =
      `R${info.config.num_replicas} ${peers.sort().join(',')}${current ? '' : ' catching up'}`;
  }
  return out;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-three-hosts-'));
  topology = await createTopology({ hosts: 3 });
  cluster = await startNatsCluster(topology);
  await waitFor(
    async () =>
      (await Promise.all(cluster.nodes.map((n) => routes(n.monitorUrl)))).every((r) => r === 2),
    {
      timeoutMs: 60_000,
      message: 'the three nats-servers never formed one cluster',
    },
  );
  operator = await connect({ servers: cluster.urls, name: 'three-hosts-operator' });
  // The operator creates the buckets with 3 replicas before any role starts
  // (the roles then open them as they are). JetStream answers once the
  // cluster has elected its meta leader.
  let store: JetStreamControlStore | undefined;
  await waitFor(
    async () => {
      store = await JetStreamControlStore.open(operator, { replicas: 3 });
      return true;
    },
    { timeoutMs: 60_000, message: 'JetStream never accepted the replicated buckets' },
  );
  controlPlane = new ControlPlane({ store: store as JetStreamControlStore });
  await publishBundle(controlPlane, join(scratch, 'build'), {
    name: 'hello',
    code: `Flotilla.serve((req) => new Response('hello ' + new URL(req.url).pathname));`,
  });
  for (const host of topology.hosts) await startHost(host);
}, 600_000);

afterAll(async () => {
  await Promise.allSettled([...roles.values()].map((r) => r.child.kill('SIGKILL')));
  await operator?.close().catch(() => {});
  await cluster?.stop();
  await topology?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}, 60_000);

/** An open-loop load over the three shields; a failed GET is retried on the next shield. */
function startRetryingLoad(rate: number): {
  records: RequestRecord[];
  retried: () => number;
  stop: () => Promise<void>;
} {
  const records: RequestRecord[] = [];
  const pending: Promise<void>[] = [];
  let retried = 0;
  let stopped = false;
  const hosts = topology.hosts;
  const send = async (record: RequestRecord): Promise<void> => {
    const path = `/hello/${record.i}`;
    for (let attempt = 0; attempt < hosts.length; attempt++) {
      const host = hosts[(record.i + attempt) % hosts.length] as NetnsHost;
      if (attempt > 0) retried++;
      try {
        const reply = await httpRequest(shieldUrl(host), path, {
          host: 'hello.localhost',
          timeoutMs: 15_000,
        });
        record.status = reply.status;
        record.flotillaError = reply.headers['x-flotilla-error'] as string | undefined;
        record.error = undefined;
        record.detail = reply.status === 200 ? undefined : reply.body.slice(0, 200);
        if (reply.status < 500) break;
      } catch (err) {
        record.status = undefined;
        record.error = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      }
    }
    record.endedAt = clock();
  };
  const loop = (async () => {
    const started = clock();
    for (let i = 0; !stopped; i++) {
      const wait = started + (i * 1000) / rate - clock();
      if (wait > 0) await delay(wait);
      const record: RequestRecord = {
        i,
        url: `/hello/${i}`,
        scheduledAt: started + (i * 1000) / rate,
        sentAt: clock(),
        endedAt: undefined,
        status: undefined,
        flotillaError: undefined,
        error: undefined,
        detail: undefined,
      };
      records.push(record);
      pending.push(send(record));
    }
  })();
  return {
    records,
    retried: () => retried,
    async stop() {
      stopped = true;
      await loop;
      await Promise.all(pending);
    },
  };
}

describe('a fleet across three hosts on a three-node NATS cluster', () => {
  it('keeps the control plane in JetStream with 3 replicas, one on each host', async () => {
    const replicas = await streamReplicas();
    expect(replicas).toEqual({
      KV_flotilla_control: 'R3 h1,h2,h3',
      OBJ_flotilla_blobs: 'R3 h1,h2,h3',
    });
    for (const host of topology.hosts) {
      expect((await httpRequest(shieldUrl(host), '/x', { host: 'hello.localhost' })).body).toBe(
        'hello /x',
      );
    }
  }, 60_000);

  it('loses no GET when a host is cut off, stays writable, and takes the host back', async () => {
    const h3 = topology.hosts[2] as NetnsHost;
    const load = startRetryingLoad(20);
    await delay(3000);
    // Host 3 lost: its nats-server and its roles die at once.
    const cut = clock();
    await Promise.all([
      cluster.nodes[2]?.kill('SIGKILL'),
      ...ROLES.map((role) => roles.get(key(h3, role))?.child.kill('SIGKILL')),
    ]);
    // Readable and writable on the two hosts left: a new app published and
    // served, the environments listed.
    await waitFor(
      async () => {
        await publishBundle(controlPlane, join(scratch, 'build-during'), {
          name: 'during',
          code: `Flotilla.serve(() => new Response('written while h3 was gone'));`,
        });
        return true;
      },
      { timeoutMs: 60_000, message: 'the control plane never took a publish with h3 gone' },
    );
    const writtenMs = clock() - cut;
    let apps: string[] = [];
    await waitFor(
      async () => {
        apps = (await controlPlane.environments()).map((e) => e.app).sort();
        return true;
      },
      {
        timeoutMs: 60_000,
        message: 'the control plane never listed the environments with h3 gone',
      },
    );
    expect(apps).toEqual(['during', 'hello']);
    for (const host of topology.hosts.slice(0, 2)) {
      let last = '';
      await waitFor(
        async () => {
          const reply = await httpRequest(shieldUrl(host), '/', { host: 'during.localhost' });
          last = `${reply.status} ${reply.body}`;
          return reply.body === 'written while h3 was gone';
        },
        // A watch whose JetStream consumer lived on h3 can stall for 80-95 s
        // (nats-server 2.9 recreating it, deploy/README.md "Known weakness").
        { timeoutMs: 180_000 },
      ).catch((err) => {
        const log = roles.get(key(host, 'shield'))?.child.output().slice(-3000);
        throw new Error(
          `${host.name} never served the app published during the cut (last: ${last})\n${log}`,
          { cause: err },
        );
      });
    }
    const propagatedMs = clock() - cut;
    await delay(3000);
    // Host 3 returns: its server rejoins the cluster and catches up, then its roles start.
    await cluster.nodes[2]?.start();
    await waitFor(
      async () =>
        (await Promise.all(cluster.nodes.map((n) => routes(n.monitorUrl)))).every((r) => r === 2),
      { timeoutMs: 60_000, message: 'h3 never rejoined the cluster' },
    );
    await waitFor(
      async () => !Object.values(await streamReplicas()).some((s) => s.includes('catching up')),
      {
        timeoutMs: 60_000,
        message: 'h3 never caught up with the replicated buckets',
      },
    );
    await startHost(h3);
    expect((await httpRequest(shieldUrl(h3), '/', { host: 'during.localhost' })).body).toBe(
      'written while h3 was gone',
    );
    await delay(3000);
    await load.stop();
    const summary = summarize(load.records);
    const afterReturn = load.records.filter((r) => r.sentAt > clock() - 2500);
    console.log(
      formatSummary(
        'three hosts, h3 cut off and back',
        summary,
        `${load.retried()} retries; publish ${Math.round(writtenMs)} ms after the cut, served by h1 and h2 ${Math.round(propagatedMs)} ms after`,
      ),
    );
    expect(summary.failed, JSON.stringify(summary.outcomes)).toBe(0);
    expect(summary.total).toBeGreaterThan(100);
    expect(afterReturn.length).toBeGreaterThan(0);
    expect(await streamReplicas()).toEqual({
      KV_flotilla_control: 'R3 h1,h2,h3',
      OBJ_flotilla_blobs: 'R3 h1,h2,h3',
    });
  }, 400_000);
});
