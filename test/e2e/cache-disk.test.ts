import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Fleet,
  type HttpReply,
  httpRequest,
  metricValue,
  type RoleProcess,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_APP, isHit } from '../support/cache-bundles.ts';
import { fixtures } from '../support/control-plane.ts';

/**
 * The shield's cache on local disk (`--cache-dir`) across restarts: a real
 * nats-server with JetStream, one scheduler, one worker and one shield
 * process, restarted with SIGTERM and with SIGKILL on the same directory.
 * Renders are counted by the worker (`flotilla_worker_renders_total`); every
 * render's body is unique (it names the render), so a hit's body tells which
 * render it came from.
 */

const RENDERS = 'flotilla_worker_renders_total';

let fleet: Fleet;
let dir: string;
let worker: string;

const renders = () => metricValue(worker, RENDERS);

function shield(): RoleProcess {
  const [live] = fleet.live('shield');
  if (!live) throw new Error('no shield');
  return live;
}

const get = (path: string): Promise<HttpReply> =>
  httpRequest(shield().url, path, { timeoutMs: 15_000 });

/** The shield's port: the cache key holds the request's host and port, as clients send it. */
let port: string;

/** Starts the shield again on the same port and directory. */
async function restart(): Promise<void> {
  await fleet.add('shield', { args: ['--port', port] });
}

/** The purge API's bearer token (`--admin-token`). */
const ADMIN_TOKEN = 'cache-disk-admin-token-0123';

const entryFiles = async () => (await readdir(dir)).filter((n) => n.endsWith('.entry'));

/** The entry file holding `text` (a path it stores), if any. */
async function entryHolding(text: string): Promise<string | undefined> {
  for (const name of await entryFiles()) {
    // A file the cache removes meanwhile is no longer one that holds it.
    const body = await readFile(join(dir, name)).catch(() => undefined);
    if (body?.includes(text)) return name;
  }
  return undefined;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-cache-dir-'));
  fleet = await startFleet({
    shields: 1,
    schedulers: 1,
    workers: 1,
    cache: true,
    publish: fixtures(CACHE_APP),
    warmPath: '/cachetest/warm',
    args: {
      shield: ['--cache-dir', dir, '--admin-token', ADMIN_TOKEN],
      scheduler: ['--queue-wait-ms', '5000'],
    },
  });
  worker = fleet.live('worker')[0]?.url ?? '';
  port = new URL(shield().url).port;
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the shield cache on disk', () => {
  it('serves a warm key as a hit after a SIGTERM restart, with no render', async () => {
    const first = await get('/cachetest/fresh/term');
    expect(first.status).toBe(200);
    expect(isHit(first)).toBe(false);
    const again = await get('/cachetest/fresh/term');
    expect(isHit(again)).toBe(true);
    expect(again.body).toBe(first.body);
    const before = await renders();
    expect((await shield().child.kill('SIGTERM')).code).toBe(0);
    await restart();
    const after = await get('/cachetest/fresh/term');
    expect(after.status).toBe(200);
    expect(isHit(after), after.headers['cache-status']).toBe(true);
    expect(after.body).toBe(first.body);
    expect(await renders()).toBe(before);
    expect(await metricValue(shield().adminUrl, 'flotilla_shield_cache_disk_entries')).toBe(1);
  }, 60_000);

  it('after a SIGKILL in the middle of writes, serves only whole entries and drops a truncated one', async () => {
    // Two entries surely on disk before the kill.
    const anchor = await get('/cachetest/fresh/anchor');
    const cut = await get('/cachetest/fresh/cut');
    expect([anchor.status, cut.status]).toEqual([200, 200]);
    const holds = async (text: string) => {
      for (const name of await entryFiles()) {
        if ((await readFile(join(dir, name))).includes(text)) return name;
      }
      return undefined;
    };
    await waitFor(
      async () =>
        (await holds('/cachetest/fresh/anchor')) !== undefined &&
        (await holds('/cachetest/fresh/cut')) !== undefined,
      { timeoutMs: 15_000 },
    );
    const truncated = await holds('/cachetest/fresh/cut');

    // A burst of new keys, each one stored and queued for the disk; the
    // shield is killed as the first answers come back, writes still going.
    const served = new Map<string, string>();
    const victim = shield();
    let killed: Promise<unknown> | undefined;
    await Promise.allSettled(
      Array.from({ length: 60 }, async (_, i) => {
        const path = `/cachetest/fresh/burst-${i}`;
        const reply = await httpRequest(victim.url, path, { timeoutMs: 15_000 });
        if (reply.status === 200) served.set(path, reply.body);
        if (served.size >= 5) killed ??= victim.child.kill('SIGKILL');
      }),
    );
    killed ??= victim.child.kill('SIGKILL');
    expect(((await killed) as { signal: string | null }).signal).toBe('SIGKILL');
    expect(served.size).toBeGreaterThanOrEqual(5);

    // What a crash can leave besides the temporary files of the writes it
    // interrupted: an entry cut short under its own name (a disk or file
    // system failing), and a half-written temporary file.
    if (!truncated) throw new Error('no entry file of /cachetest/fresh/cut');
    await truncate(join(dir, truncated), Math.floor((await stat(join(dir, truncated))).size / 2));
    await writeFile(join(dir, `${truncated}.999-1.tmp`), 'half an entry');

    await restart();
    const left = await readdir(dir);
    expect(left).not.toContain(truncated);
    expect(left.filter((n) => n.endsWith('.tmp'))).toEqual([]);

    const warm = await get('/cachetest/fresh/anchor');
    expect(isHit(warm), warm.headers['cache-status']).toBe(true);
    expect(warm.body).toBe(anchor.body);
    const again = await get('/cachetest/fresh/cut');
    expect(again.status).toBe(200);
    expect(isHit(again)).toBe(false);
    expect(again.body).not.toBe(cut.body);
    // Every burst key answers 200; a hit is exactly the body served before the kill.
    for (const [path, body] of served) {
      const reply = await get(path);
      expect(reply.status).toBe(200);
      if (isHit(reply)) {
        expect(reply.body).toBe(body);
      } else {
        expect(reply.body).not.toBe(body);
      }
    }
    expect(
      await metricValue(shield().adminUrl, 'flotilla_shield_cache_disk_dropped_total', {
        reason: 'corrupt',
      }),
    ).toBe(1);
  }, 90_000);

  it('acknowledges a purge over HTTP (admin API) only once the purged files are gone', async () => {
    const path = '/cachetest/fresh/http-purge';
    const first = await get(path);
    expect(first.status).toBe(200);
    await waitFor(async () => (await entryHolding(path)) !== undefined, {
      timeoutMs: 15_000,
      message: `no entry file of ${path}`,
    });
    const res = await fetch(`${shield().adminUrl}/purge`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'url', url: `${new URL(shield().url).host}${path}` }),
      signal: AbortSignal.timeout(30_000),
    });
    const answer = (await res.json()) as { complete: boolean; removed: number };
    expect(res.status, JSON.stringify(answer)).toBe(200);
    expect(answer).toMatchObject({ complete: true, removed: 1 });
    // At the moment of the acknowledgement: no file of it left to load after a restart.
    expect(await entryHolding(path)).toBeUndefined();
    const again = await get(path);
    expect(isHit(again)).toBe(false);
    expect(again.body).not.toBe(first.body);
  }, 60_000);
});
