/**
 * One load client of the overload bench, in a process of its own (started
 * by `overload.ts` over IPC): the flood of misses and the cached-page
 * client each get their own event loop, so neither's latency includes the
 * other's work (256 answers to parse), and what each costs in CPU is seen
 * apart from the shield's.
 *
 * Messages in: `hits` (fetch a page `count` times, `clients` at a time),
 * `connect` (open the connections a `kept` flood uses, fetching a page once
 * on each), `flood` (send every path at once and wait for every answer).
 * Each is answered with the latencies, or `connected`.
 *
 * @module
 */
import { Agent } from 'node:http';
import { httpRequest } from '@flotilla/test-harness';

/** What the parent asks. */
export type ClientJob =
  | { kind: 'hits'; base: string; path: string; count: number; clients: number }
  | { kind: 'connect'; base: string; count: number; path: string }
  | {
      kind: 'flood';
      base: string;
      paths: string[];
      /**
       * Each miss on a connection of its own (`fresh`), or on one of those
       * `connect` opened (`kept`, as a proxy in front of the shield keeps them).
       */
      connections: 'fresh' | 'kept';
    };

/** One answer to a flood's request. */
export interface FloodReply {
  ms: number;
  status: number;
  error: string | undefined;
}

/** What the client answers. */
export type ClientDone =
  | { kind: 'hits'; ms: number[]; bad: number }
  | { kind: 'flood'; replies: FloodReply[] }
  | { kind: 'connected' };

/** `count` GETs of `path` by `clients` clients, each sending its next once answered. */
async function fetchMany(
  base: string,
  path: string,
  count: number,
  clients: number,
  agent: Agent,
): Promise<{ ms: number[]; bad: number }> {
  const ms: number[] = [];
  let bad = 0;
  let sent = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (sent < count) {
        sent++;
        const r = await httpRequest(base, path, { agent });
        if (r.status === 200) ms.push(r.ms);
        else bad++;
      }
    }),
  );
  return { ms, bad };
}

const hitAgent = new Agent({ keepAlive: true, maxSockets: 16 });
/** The connections of `kept` floods, by base URL. */
const kept = new Map<string, Agent>();

async function connect(job: Extract<ClientJob, { kind: 'connect' }>): Promise<void> {
  kept.get(job.base)?.destroy();
  const agent = new Agent({ keepAlive: true, maxSockets: job.count, keepAliveMsecs: 60_000 });
  kept.set(job.base, agent);
  await Promise.all(
    Array.from({ length: job.count }, () => httpRequest(job.base, job.path, { agent })),
  );
}

async function flood(job: Extract<ClientJob, { kind: 'flood' }>): Promise<FloodReply[]> {
  const agent = job.connections === 'kept' ? kept.get(job.base) : false;
  if (agent === undefined) throw new Error(`no kept connections to ${job.base}: connect first`);
  const replies = await Promise.all(
    job.paths.map((path) => httpRequest(job.base, path, { agent, timeoutMs: 60_000 })),
  );
  return replies.map((r) => ({ ms: r.ms, status: r.status, error: r.headers['x-flotilla-error'] }));
}

async function handle(job: ClientJob): Promise<ClientDone | undefined> {
  switch (job.kind) {
    case 'hits':
      return {
        kind: 'hits',
        ...(await fetchMany(job.base, job.path, job.count, job.clients, hitAgent)),
      };
    case 'connect':
      await connect(job);
      return { kind: 'connected' };
    case 'flood':
      return { kind: 'flood', replies: await flood(job) };
  }
}

process.on('message', (job: ClientJob) => {
  handle(job).then(
    (done) => {
      if (done) process.send?.(done);
    },
    (err: unknown) => {
      process.stderr.write(`overload client: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
});
process.on('disconnect', () => {
  hitAgent.destroy();
  for (const agent of kept.values()) agent.destroy();
  process.exit(0);
});
process.send?.({ kind: 'ready' });
