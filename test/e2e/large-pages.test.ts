/**
 * Pages larger than one NATS message on a role-mode fleet (a real
 * nats-server with its default 1 MiB `max_payload`, a shield, a scheduler
 * and a worker, each its own process): the reply travels worker →
 * scheduler → shield in chunks, so the documented 10 MiB output cap is the
 * real one, and a page over it fails with the output-limit code.
 */
import { type Fleet, metricValue, type RoleProcess, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

/** The byte at offset `i` of every page (not uniform: a misplaced chunk shows). */
const byteAt = (i: number) => (i * 31 + (i >>> 12)) & 255;

const PAGES = {
  name: 'big-pages',
  code: `Flotilla.serve((req) => {
    const n = Number(new URL(req.url).searchParams.get('n'));
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + (i >>> 12)) & 255;
    return new Response(b, { headers: { 'content-type': 'application/octet-stream' } });
  });`,
};

let fleet: Fleet;
let worker: RoleProcess;

beforeAll(async () => {
  fleet = await startFleet({ schedulers: 1, workers: 1, publish: fixtures(PAGES) });
  [worker] = fleet.started.worker as [RoleProcess];
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
});

async function page(n: number): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
  const res = await fetch(`${fleet.shield.url}/big-pages/?n=${n}`, {
    signal: AbortSignal.timeout(30_000),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: new Uint8Array(await res.arrayBuffer()),
  };
}

describe('pages larger than one NATS message, role mode', () => {
  it('a 5 MB page arrives intact', async () => {
    const n = 5_000_000;
    const res = await page(n);
    expect(res.status).toBe(200);
    expect(res.body.byteLength).toBe(n);
    const expected = new Uint8Array(n).map((_, i) => byteAt(i));
    expect(Buffer.compare(res.body, expected)).toBe(0);
  });

  it('a page of 10 MiB less one byte, just under the cap, arrives intact', async () => {
    const n = 10 * 1024 * 1024 - 1;
    const res = await page(n);
    expect(res.status).toBe(200);
    expect(res.body.byteLength).toBe(n);
    expect(res.body[n - 1]).toBe(byteAt(n - 1));
  });

  it('an 11 MB page fails with 502 FLOTILLA_ERR_OUTPUT_LIMIT', async () => {
    const before = await metricValue(worker.url, 'flotilla_worker_errors_total', {
      code: 'FLOTILLA_ERR_OUTPUT_LIMIT',
    });
    const res = await page(11_000_000);
    expect({ status: res.status, code: res.headers.get('x-flotilla-error') }).toEqual({
      status: 502,
      code: 'FLOTILLA_ERR_OUTPUT_LIMIT',
    });
    expect(new TextDecoder().decode(res.body)).toMatch(
      /11000000 bytes, over the 10485760-byte cap/,
    );
    expect(
      await metricValue(worker.url, 'flotilla_worker_errors_total', {
        code: 'FLOTILLA_ERR_OUTPUT_LIMIT',
      }),
    ).toBe(before + 1);
  });
});
