import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Fleet, httpGet, httpRequest, startFleet, waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_APP } from '../support/cache-bundles.ts';
import { fixtures } from '../support/control-plane.ts';

/**
 * The shield's access log (`--access-log <file>`) on a real fleet: one JSON
 * line per request, misses, hits and errors alike, with what an operator
 * looks for (who asked, what was answered, from where, how long each stage
 * took), written to the file the flag names.
 */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

let fleet: Fleet;
let dir: string;
let logFile: string;

type Line = Record<string, unknown>;

async function accessLines(): Promise<Line[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.msg === 'access');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-access-'));
  logFile = join(dir, 'access.log');
  fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    cache: true,
    publish: fixtures(CACHE_APP),
    args: { shield: ['--access-log', logFile, '--log-format', 'json'] },
  });
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the shield’s access log', () => {
  it('has one line per request: the miss with its worker and stages, the hits, the error', async () => {
    const shield = fleet.shield.url;
    // The app's first request (its manifest is loaded then) is not the one examined.
    expect((await httpGet(`${shield}/cachetest/fresh/warm`)).status).toBe(200);
    const traceparent = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
    const miss = await httpRequest(shield, '/cachetest/fresh/7?variant=red', {
      headers: { traceparent },
    });
    expect(miss.status).toBe(200);
    const hit = await httpRequest(shield, '/cachetest/fresh/7?variant=red');
    expect(hit.status).toBe(200);
    // Served from the shield's memo of hot hits this time.
    const hotHit = await httpRequest(shield, '/cachetest/fresh/7?variant=red');
    expect(hotHit.status).toBe(200);
    const missing = await httpGet(`${shield}/no-such-app/x`);
    expect(missing.status).toBe(404);

    await waitFor(async () => (await accessLines()).length >= 5, { timeoutMs: 30_000 });
    const lines = (await accessLines()).slice(1);
    expect(lines).toHaveLength(4);
    const [first, second, third, fourth] = lines as [Line, Line, Line, Line];
    const workerId = /worker (\S+)/.exec(fleet.started.worker[0]?.description ?? '')?.[1];
    expect(first).toMatchObject({
      level: 'info',
      msg: 'access',
      role: 'shield',
      // The render's trace: on a cacheable route a client's own trace id is
      // continued only from a trusted proxy (it could end up in the page).
      traceId: expect.stringMatching(/^[\da-f]{32}$/),
      clientIp: '127.0.0.1',
      method: 'GET',
      path: '/cachetest/fresh/7',
      query: 'variant=red',
      status: 200,
      cache: 'miss',
      tier: 'shield',
      app: 'cachetest',
      environment: 'production',
      deployment: expect.stringMatching(/^cachetest-/),
      worker: workerId,
      region: 'test',
    });
    expect(first.traceId).not.toBe(TRACE_ID);
    expect(first.requestId).toEqual(expect.stringMatching(/^[\da-f-]{36}$/));
    expect(first.bytes as number).toBeGreaterThan(miss.body.length);
    expect(Object.keys(first.stages as object)).toEqual(
      expect.arrayContaining(['scheduler', 'worker', 'render']),
    );
    expect(first.ms as number).toBeGreaterThan(0);
    for (const line of [second, third]) {
      expect(line).toMatchObject({ status: 200, cache: 'hit', app: 'cachetest' });
      expect(line.worker).toBeUndefined();
      expect(line.requestId).not.toBe(first.requestId);
    }
    expect(fourth).toMatchObject({
      status: 404,
      path: '/no-such-app/x',
      error: 'FLOTILLA_ERR_NOT_FOUND',
      cache: 'none',
    });
    expect(fourth.app).toBeUndefined();
  });
});
