import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import {
  type HttpReply,
  httpRequest,
  metricValue,
  publishBundle,
  type RoleProcess,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_APP, cacheStatus } from '../support/cache-bundles.ts';
import { type SecuredFleet, startSecuredFleet } from './secured-fleet.ts';

/**
 * The cache tiers and the purge API on a secured fleet: a real nats-server
 * with the generated `auth.conf`, every role on its own credential, plus an
 * edge shield and a global member (both on the shield credential). An edge's
 * miss crosses to the global member over the tier subjects, and the admin
 * API's purge and revalidation (sent with the shield's credential, guarded
 * by the admin token) are acknowledged by every shield.
 */

const TOKEN = 'secured-admin-token-0123456789';
const PATH = '/cachetest/fresh/secured-tiers';
const EDGE_ID = 'edge-secured';
/** The Host asked for, without a port: as purges and revalidations name it. */
const HOST = '127.0.0.1';

let sf: SecuredFleet;
let edge: RoleProcess;
let global: RoleProcess;

beforeAll(async () => {
  sf = await startSecuredFleet({ shop: ['alpha'] });
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-auth-tiers-'));
  try {
    const cp = new ControlPlane({ store: await JetStreamControlStore.open(sf.operator) });
    await publishBundle(cp, dir, CACHE_APP);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  global = await sf.fleet.add('shield', { args: ['--tier', 'global'] });
  edge = await sf.fleet.add('shield', {
    args: ['--tier', 'edge', '--shield-id', EDGE_ID, '--admin-token', TOKEN],
  });
  await waitFor(
    async () => (await metricValue(edge.adminUrl, 'flotilla_shield_tier_members')) === 1,
    {
      timeoutMs: 20_000,
      message: 'the edge never saw the global member',
    },
  );
}, 300_000);

afterAll(async () => {
  await sf?.stop();
});

/** POSTs `body` to the edge's admin API with the token. */
async function admin(path: string, body: unknown): Promise<{ status: number; json: AdminAnswer }> {
  const res = await fetch(`${edge.adminUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, json: (await res.json()) as AdminAnswer };
}

interface AdminAnswer {
  complete: boolean;
  removed: number;
  revalidated?: number;
  shields: Array<{ shieldId: string; status: string; removed: number; revalidated?: number }>;
}

describe('cache tiers and the purge API on a secured fleet', () => {
  it('an edge’s miss is answered by the global member over the tier subjects', async () => {
    let res: HttpReply | undefined;
    // The fleet may still be loading the app.
    await waitFor(
      async () => {
        res = await httpRequest(edge.url, PATH, { host: HOST, timeoutMs: 30_000 });
        return res.status === 200;
      },
      { timeoutMs: 60_000, message: 'the edge never served the page' },
    );
    expect(cacheStatus(res as HttpReply)).toMatch(
      /^flotilla-global; fwd=uri-miss; fwd-status=200; stored; ttl=\d+, flotilla-edge; fwd=uri-miss; fwd-status=200; stored; ttl=\d+$/,
    );
    expect(
      await metricValue(global.adminUrl, 'flotilla_shield_tier_misses_total', { outcome: 'miss' }),
    ).toBeGreaterThanOrEqual(1);
    const again = await httpRequest(edge.url, PATH, { host: HOST });
    expect(cacheStatus(again)).toMatch(/^flotilla-edge; hit; /);
  }, 90_000);

  it('POST /purge on an edge’s admin listener is acknowledged by every shield (no 403)', async () => {
    const url = `${HOST}${PATH}`;
    const { status, json } = await admin('/purge', { kind: 'url', url });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.complete).toBe(true);
    // The fleet's own shield, the global member and the edge.
    expect(json.shields.map((s) => s.status)).toEqual(['acked', 'acked', 'acked']);
    // The edge's copy and the global member's.
    expect(json.removed).toBe(2);
    const after = await httpRequest(edge.url, PATH, { host: HOST });
    expect(cacheStatus(after)).toMatch(/^flotilla-global; fwd=uri-miss; .*stored/);
  }, 60_000);

  it('POST /revalidate is acknowledged by every shield: the global member renders, the edge drops its copy', async () => {
    const before = await httpRequest(edge.url, PATH, { host: HOST });
    expect(cacheStatus(before)).toMatch(/^flotilla-edge; hit; /);
    const url = `${HOST}${PATH}`;
    const { status, json } = await admin('/revalidate', { url });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.complete).toBe(true);
    const edgeAck = json.shields.find((s) => s.shieldId === EDGE_ID);
    expect(edgeAck).toMatchObject({ status: 'acked', revalidated: 0, removed: 1 });
    expect(json.revalidated).toBeGreaterThanOrEqual(1);
    // The edge asks the global member again and gets its new copy.
    const after = await httpRequest(edge.url, PATH, { host: HOST });
    expect(cacheStatus(after)).toMatch(
      /^flotilla-global; hit; ttl=\d+, flotilla-edge; fwd=uri-miss/,
    );
    expect(after.body).not.toBe(before.body);
  }, 60_000);
});
