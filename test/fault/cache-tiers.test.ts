import { mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Fleet,
  type HttpReply,
  httpRequest,
  metricValue,
  type RoleProcess,
  runCli,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_APP, cacheStatus, cachingStatus } from '../support/cache-bundles.ts';
import { fixtures } from '../support/control-plane.ts';
import { clock, describeFailures, formatSummary, startLoad, summarize } from './load.ts';

const RENDERS = 'flotilla_worker_renders_total';
/**
 * Every edge is asked for the same Host, as behind one public name (the
 * Host's port is part of the key, and each edge here has its own port).
 */
const HOST = '127.0.0.1';
const MEMBERS = 'flotilla_shield_tier_members';
const TIER_MISSES = 'flotilla_shield_tier_misses_total';
/** The purge API's bearer token (`--admin-token`) on the edges. */
const ADMIN_TOKEN = 'cache-tiers-admin-token-0123';

/**
 * `Cache-Status` of an edge miss the global member rendered and stored (fresh
 * for `ttl` s). The edge counts the owner's age in whole seconds, as HTTP's
 * `Age`: a second boundary crossed on the way (a busy machine) leaves it 1 less.
 */
const BOTH_STORED = (ttl: number) =>
  new RegExp(
    `^flotilla-global; fwd=uri-miss; fwd-status=200; stored; ttl=${ttl}, ` +
      `flotilla-edge; fwd=uri-miss; fwd-status=200; stored; ttl=(?:${ttl}|${ttl - 1})$`,
  );

/**
 * Issue 16, cache tiers, across processes over a real nats-server: three
 * edge shields (L1) and two global members (L2), a scheduler and a worker.
 * Each key has one global owner (rendezvous hashing over the members'
 * heartbeats), so concurrent misses over all edges make one render; a
 * global member SIGKILLed under load fails no GET (its keys are asked of
 * the next member); a member that joins takes its keys over from the one
 * that held them without rendering them again; purges reach all five.
 */
describe('cache tiers: 3 edges, 2 global members, real NATS', () => {
  let fleet: Fleet;
  let globals: RoleProcess[];
  let edges: RoleProcess[];
  let worker: string;
  const renders = () => metricValue(worker, RENDERS);

  /** Waits until every shield in `shields` sees `n` live global members. */
  async function seeMembers(shields: RoleProcess[], n: number): Promise<void> {
    await waitFor(
      async () => {
        const seen = await Promise.all(shields.map((s) => metricValue(s.adminUrl, MEMBERS)));
        return seen.every((m) => m === n);
      },
      { timeoutMs: 20_000, message: `the shields never saw ${n} global members` },
    );
  }

  beforeAll(async () => {
    fleet = await startFleet({
      shields: 0,
      schedulers: 1,
      workers: 1,
      cache: true,
      publish: fixtures(CACHE_APP),
      // Bursts of renders of one app on one worker may wait on a busy machine.
      args: { scheduler: ['--queue-wait-ms', '5000'] },
    });
    globals = await Promise.all(
      [1, 2].map(() => fleet.add('shield', { args: ['--tier', 'global'] })),
    );
    edges = await Promise.all(
      [1, 2, 3].map(() =>
        fleet.add('shield', { args: ['--tier', 'edge', '--admin-token', ADMIN_TOKEN] }),
      ),
    );
    worker = fleet.live('worker')[0]?.url ?? '';
    await seeMembers([...edges, ...globals], 2);
    // Load the isolate once.
    expect((await httpRequest(edges[0]?.url ?? '', '/cachetest/warm', { host: HOST })).status).toBe(
      200,
    );
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('per-tier Cache-Status (origin-side first), caching status and Server-Timing with each tier', async () => {
    const [e1, e2] = edges.map((e) => e.url) as [string, string];
    const path = '/cachetest/fresh/tiers';
    const miss = await httpRequest(e1, path, { host: HOST });
    expect(miss.status).toBe(200);
    expect(cacheStatus(miss)).toMatch(BOTH_STORED(300));
    expect(cachingStatus(miss)).toBe('ok');
    const missTiming = miss.headers['server-timing'] ?? '';
    expect(missTiming).toMatch(/\bedge;dur=[\d.]+/);
    expect(missTiming).toMatch(/\bglobal;dur=[\d.]+/);
    expect(missTiming).toMatch(/\bworker;dur=[\d.]+/);
    expect(missTiming).not.toMatch(/\bshield;dur/);

    // Another edge: a hit at the global tier, stored at this edge.
    const l2Hit = await httpRequest(e2, path, { host: HOST });
    expect(l2Hit.body).toBe(miss.body);
    expect(cacheStatus(l2Hit)).toMatch(
      /^flotilla-global; hit; ttl=\d+, flotilla-edge; fwd=uri-miss; fwd-status=200; stored; ttl=\d+$/,
    );
    const l2Timing = l2Hit.headers['server-timing'] ?? '';
    expect(l2Timing).toMatch(/\bedge;dur=[\d.]+/);
    expect(l2Timing).toMatch(/\bglobal;dur=[\d.]+/);
    expect(l2Timing).not.toMatch(/\bworker;dur/);

    // Again on that edge: a hit there, and its own time only.
    const l1Hit = await httpRequest(e2, path, { host: HOST });
    expect(l1Hit.body).toBe(miss.body);
    expect(cacheStatus(l1Hit)).toMatch(/^flotilla-edge; hit; ttl=\d+$/);
    expect(l1Hit.headers['server-timing']).toMatch(/^edge;dur=[\d.]+$/);
    expect(Number(l1Hit.headers.age)).toBeGreaterThanOrEqual(0);

    // Not stored at either tier: the reasons as with one tier.
    const priv = await httpRequest(e1, '/cachetest/private/tiers', { host: HOST });
    expect(cachingStatus(priv)).toBe('private');
    expect(cacheStatus(priv)).toMatch(
      /^flotilla-global; fwd=uri-miss; fwd-status=200; detail=private, flotilla-edge; fwd=uri-miss; fwd-status=200; detail=private$/,
    );
  });

  it('1,000 concurrent misses of one key spread over the 3 edges make exactly 1 render', async () => {
    const path = '/cachetest/slow/tiers-thousand';
    const agents = edges.map(() => new Agent({ keepAlive: true, maxSockets: 400 }));
    try {
      const renders0 = await renders();
      const replies: HttpReply[] = await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          httpRequest(edges[i % 3]?.url ?? '', path, {
            host: HOST,
            agent: agents[i % 3] as Agent,
            timeoutMs: 30_000,
          }),
        ),
      );
      const renders1 = await renders();
      const statuses = new Map<number, number>();
      for (const r of replies) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      console.log(
        `[tiers] 1000 concurrent misses over 3 edges: ${renders1 - renders0} render(s), ` +
          `statuses ${JSON.stringify(Object.fromEntries(statuses))}`,
      );
      expect(Object.fromEntries(statuses)).toEqual({ 200: 1000 });
      expect(new Set(replies.map((r) => r.body)).size).toBe(1);
      expect(renders1 - renders0).toBe(1);
      // Each edge asked the global tier at most once for it (its own followers collapsed).
      const fromGlobal = replies.filter((r) => /^flotilla-global; /.test(cacheStatus(r)));
      expect(fromGlobal.length).toBeGreaterThan(0);
    } finally {
      for (const a of agents) a.destroy();
    }
  });

  it('a purge is acknowledged by all 5 shields and reaches both tiers', async () => {
    const path = '/cachetest/purge/tiers';
    for (const e of edges)
      expect((await httpRequest(e.url, path, { host: HOST })).status).toBe(200);
    for (const e of edges) {
      expect(cacheStatus(await httpRequest(e.url, path, { host: HOST }))).toMatch(
        /^flotilla-edge; hit; /,
      );
    }
    const res = await runCli(['purge', '--url', `${edges[0]?.url}${path}`, '--json'], {
      env: { FLOTILLA_NATS: fleet.nats.url },
    });
    expect(res.code, res.stderr).toBe(0);
    const json = JSON.parse(res.stdout) as {
      acked: Array<{ shieldId: string; removed: number }>;
      failed: unknown[];
      missing: unknown[];
    };
    expect(json.acked).toHaveLength(5);
    expect(json.failed).toEqual([]);
    expect(json.missing).toEqual([]);
    // Removed at the 3 edges and at the key's owner.
    expect(json.acked.reduce((n, a) => n + a.removed, 0)).toBe(4);
    const renders0 = await renders();
    const first = await httpRequest(edges[0]?.url ?? '', path, { host: HOST });
    expect(cacheStatus(first)).toMatch(BOTH_STORED(300));
    expect(await renders()).toBe(renders0 + 1);
  });

  it('a revalidation over HTTP renders each key once fleet-wide: its owner renders, the edges drop their copies', async () => {
    const path = '/cachetest/fresh/revalidate-tiers';
    const before = await httpRequest(edges[0]?.url ?? '', path, { host: HOST });
    for (const e of edges) await httpRequest(e.url, path, { host: HOST });
    for (const e of edges) {
      const r = await httpRequest(e.url, path, { host: HOST });
      expect(r.body).toBe(before.body);
      expect(cacheStatus(r)).toMatch(/^flotilla-edge; hit; /);
    }
    const renders0 = await renders();
    const res = await fetch(`${edges[1]?.adminUrl}/revalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${HOST}${path}` }),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await res.json()) as {
      complete: boolean;
      revalidated: number;
      shields: Array<{ shieldId: string; status: string; removed: number; revalidated: number }>;
    };
    expect(res.status, JSON.stringify(answer)).toBe(200);
    expect(answer.complete).toBe(true);
    expect(answer.shields).toHaveLength(5);
    const rendered = (await renders()) - renders0;
    console.log(
      `[tiers] revalidation over HTTP: ${rendered} render(s) for ${answer.revalidated} copies, ` +
        `acks ${JSON.stringify(answer.shields.map((s) => [s.removed, s.revalidated]))}`,
    );
    // Each key (one per encoding a visitor may have) rendered once, by its owner: not once per shield.
    expect(rendered).toBe(answer.revalidated);
    expect(rendered).toBeGreaterThanOrEqual(1);
    expect(rendered).toBeLessThanOrEqual(3);
    // The edges rendered nothing and dropped their copy.
    const edgeAcks = answer.shields.filter((s) => s.revalidated === 0 && s.removed === 1);
    expect(edgeAcks.length).toBeGreaterThanOrEqual(3);
    // Every edge now serves the owner's new copy, with no render.
    for (const e of edges) {
      const r = await httpRequest(e.url, path, { host: HOST });
      expect(cacheStatus(r)).toMatch(/^flotilla-global; hit; ttl=\d+, flotilla-edge; fwd=uri-miss/);
      expect(r.body).not.toBe(before.body);
    }
    expect(await renders()).toBe(renders0 + rendered);
  });

  it('a global member SIGKILLed under steady load loses no GET; a member that joins takes its keys over without renders', async () => {
    const victim = globals[1] as RoleProcess;
    const survivor = globals[0] as RoleProcess;
    const misses0 = await metricValue(victim.adminUrl, TIER_MISSES);
    // Every request a new key: a miss at both tiers, so half of them are the victim's.
    const run = startLoad({
      rate: 12,
      durationMs: 8000,
      target: (i) => `${edges[i % 3]?.url}/cachetest/slow/kill-${i}`,
      timeoutMs: 30_000,
    });
    // Kill once the victim has answered misses of this load.
    await waitFor(async () => (await metricValue(victim.adminUrl, TIER_MISSES)) > misses0 + 5, {
      timeoutMs: 20_000,
      message: 'the victim never answered a miss of the load',
    });
    const killedAt = clock();
    await victim.child.kill('SIGKILL');
    const records = await run.done;
    const after = records.filter((r) => r.sentAt >= killedAt);
    const summary = summarize(records);
    console.log(formatSummary('global member SIGKILLed under load (tiers)', summary));
    expect(after.length).toBeGreaterThan(20);
    expect(summary.failed, describeFailures(records)).toBe(0);
    await seeMembers([...edges, survivor], 1);

    // Keys held by the survivor alone; another edge then asks for them once a new member joined.
    const keys = Array.from({ length: 30 }, (_, i) => `/cachetest/fresh/hand-back-${i}`);
    for (const k of keys)
      expect((await httpRequest(edges[0]?.url ?? '', k, { host: HOST })).status).toBe(200);
    const joined = await fleet.add('shield', { args: ['--tier', 'global'] });
    globals = [survivor, joined];
    await seeMembers([...edges, ...globals], 2);
    const renders0 = await renders();
    const replies = await Promise.all(
      keys.map((k) => httpRequest(edges[1]?.url ?? '', k, { host: HOST })),
    );
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(await renders()).toBe(renders0);
    const peeks = await metricValue(joined.adminUrl, TIER_MISSES, { outcome: 'peek-hit' });
    const handedBack = await metricValue(survivor.adminUrl, TIER_MISSES, { outcome: 'peek-hit' });
    console.log(
      `[tiers] member joined: ${keys.length} keys asked, 0 renders; ` +
        `the survivor handed back ${handedBack} of them`,
    );
    expect(peeks).toBe(0);
    // Rendezvous gives the new member about half the keys: some moved, none rendered.
    expect(handedBack).toBeGreaterThan(0);
  });

  it('a global member restarted with the same --shield-id and --cache-dir serves its first request of a warm key as a hit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-tiers-disk-'));
    try {
      const args = ['--tier', 'global', '--shield-id', 'g-disk', '--cache-dir', dir];
      const member = await fleet.add('shield', { args });
      await seeMembers([...edges, ...globals, member], 3);
      // A key the new member owns: its miss is counted there.
      let owned: { path: string; body: string } | undefined;
      for (let i = 0; i < 40 && !owned; i++) {
        const path = `/cachetest/fresh/restart-${i}`;
        const misses0 = await metricValue(member.adminUrl, TIER_MISSES, { outcome: 'miss' });
        const r = await httpRequest(edges[0]?.url ?? '', path, { host: HOST });
        expect(r.status).toBe(200);
        const misses1 = await metricValue(member.adminUrl, TIER_MISSES, { outcome: 'miss' });
        if (misses1 > misses0) owned = { path, body: r.body };
      }
      if (!owned) throw new Error('g-disk owned none of 40 keys');
      expect((await member.child.kill('SIGTERM')).code).toBe(0);
      await seeMembers([...edges, ...globals], 2);
      const back = await fleet.add('shield', { args });
      await seeMembers([...edges, ...globals, back], 3);
      const renders0 = await renders();
      // Another edge, which never held the key: the restarted owner answers it from its disk.
      const first = await httpRequest(edges[1]?.url ?? '', owned.path, { host: HOST });
      expect(cacheStatus(first)).toMatch(
        /^flotilla-global; hit; ttl=\d+, flotilla-edge; fwd=uri-miss; fwd-status=200; stored; ttl=\d+$/,
      );
      expect(first.body).toBe(owned.body);
      expect(await renders()).toBe(renders0);
      expect(await metricValue(back.adminUrl, TIER_MISSES, { outcome: 'hit' })).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
