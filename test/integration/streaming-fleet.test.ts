import { createHash } from 'node:crypto';
import { type IncomingHttpHeaders, request } from 'node:http';
import { type Fleet, httpRequest, startFleet, waitFor, workerHealth } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';
import { type SlowBackend, startSlowBackend, streamApp } from '../support/stream-bundles.ts';

/** A response read as it comes: its head, each chunk, and how it ended. */
interface Reading {
  status: number;
  headers: IncomingHttpHeaders;
  /** The text received so far. */
  text(): string;
  /** Resolves once the text received contains `needle`. */
  until(needle: string): Promise<string>;
  /** Resolves when the response ends: complete (a proper end) or broken (aborted). */
  ended: Promise<{ complete: boolean; body: Buffer }>;
  /** Closes the connection (the client goes away). */
  destroy(): void;
}

function read(url: string): Promise<Reading> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const watchers = new Set<() => void>();
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        for (const w of [...watchers]) w();
      });
      const ended = new Promise<{ complete: boolean; body: Buffer }>((done) => {
        res.on('error', () => {});
        res.on('close', () => {
          done({ complete: res.complete, body: Buffer.concat(chunks) });
          for (const w of [...watchers]) w();
        });
      });
      const text = () => Buffer.concat(chunks).toString('utf8');
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        text,
        until: (needle) =>
          new Promise((found, fail) => {
            const check = () => {
              if (text().includes(needle)) {
                watchers.delete(check);
                found(text());
              } else if (res.destroyed || res.complete) {
                watchers.delete(check);
                fail(new Error(`the response ended without ${needle}: ${text().slice(0, 300)}`));
              }
            };
            watchers.add(check);
            check();
          }),
        ended,
        destroy: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Issue 18, "Streaming SSR", across processes: a real nats-server, a shield
 * with its cache, a scheduler and a worker, each its own `flotilla start
 * --role` process. The page's slow part waits on a backend call this test
 * answers, so "the shell arrived first" is an observed order of events.
 */
describe('streamed SSR through shield → NATS → scheduler → worker', () => {
  let fleet: Fleet;
  let shield: string;
  let backend: SlowBackend;

  beforeAll(async () => {
    backend = await startSlowBackend();
    fleet = await startFleet({
      shields: 1,
      schedulers: 1,
      workers: 1,
      cache: true,
      publish: fixtures(streamApp(backend.origin)),
      args: { shield: ['--timeout-ms', '20000'] },
    });
    shield = fleet.shield.url;
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
    await backend?.close();
  });

  it('sends the shell before the suspended part, then caches the complete page as a hit', async () => {
    const first = await read(`${shield}/streamtest/page/1`);
    expect(first.status).toBe(200);
    expect(first.headers['content-length']).toBeUndefined();
    expect(first.headers['transfer-encoding']).toBe('chunked');
    // The shell (and the fallback) arrived while the backend holds the slow part.
    const shell = await first.until('Shell of 1');
    expect(await backend.called('page-1')).toBe(1);
    expect(shell).toContain('loading…');
    expect(shell).not.toContain('the slow part of page-1');
    backend.open('page-1');
    await first.until('the slow part of page-1');
    const end = await first.ended;
    expect(end.complete).toBe(true);
    expect(end.body.toString()).toMatch(/<\/html>$/);

    // Stored once complete: the next request is a hit with the same bytes.
    let hit = await httpRequest(shield, '/streamtest/page/1');
    for (let i = 0; i < 50 && !/hit/.test(String(hit.headers['cache-status'])); i++) {
      await new Promise((r) => setTimeout(r, 100));
      hit = await httpRequest(shield, '/streamtest/page/1');
    }
    expect(hit.headers['cache-status']).toMatch(/hit/);
    expect(hit.body).toBe(end.body.toString());
    expect(await backend.called('page-1')).toBe(1);
  }, 60_000);

  it('gives two coalesced clients the whole stream from one render', async () => {
    const a = await read(`${shield}/streamtest/page/2`);
    await a.until('Shell of 2');
    await backend.called('page-2');
    const b = await read(`${shield}/streamtest/page/2`);
    expect(b.headers['cache-status']).toMatch(/collapsed/);
    await b.until('Shell of 2');
    backend.open('page-2');
    const [ea, eb] = await Promise.all([a.ended, b.ended]);
    expect(ea.complete && eb.complete).toBe(true);
    expect(eb.body.toString()).toBe(ea.body.toString());
    expect(ea.body.toString()).toContain('the slow part of page-2');
    expect(await backend.called('page-2')).toBe(1);
  }, 60_000);

  it.each([
    ['broken', 'the render throws after the shell'],
    ['killed', 'the isolate is killed (CPU limit) after the shell'],
  ])(
    'aborts the client response and caches nothing when %s (%s)',
    async (kind) => {
      const r = await read(`${shield}/streamtest/${kind}/1`);
      expect(r.status).toBe(200);
      await r.until(`Shell of 1`);
      backend.open(`${kind}-1`);
      const end = await r.ended;
      expect(end.complete).toBe(false);
      // Not stored: the next request renders again.
      const again = await read(`${shield}/streamtest/${kind}/1`);
      await again.until('Shell of 1');
      expect(again.headers['cache-status']).not.toMatch(/hit/);
      expect((await again.ended).complete).toBe(false);
      expect(await backend.called(`${kind}-1`)).toBe(2);
    },
    60_000,
  );

  it('streams a 9 MiB body intact past NATS max_payload (1 MiB)', async () => {
    const r = await read(`${shield}/streamtest/big/1`);
    expect(r.status).toBe(200);
    const end = await r.ended;
    expect(end.complete).toBe(true);
    expect(end.body.byteLength).toBe(9 * 1024 * 1024);
    const expected = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < expected.length; i++) expected[i] = (i * 7) % 251;
    expect(createHash('sha256').update(end.body).digest('hex')).toBe(
      createHash('sha256').update(expected).digest('hex'),
    );
  }, 60_000);

  it('ends the render at the worker when its client leaves an uncached stream', async () => {
    const worker = fleet.live('worker')[0];
    if (!worker) throw new Error('no worker');
    const r = await read(`${shield}/streamtest/endless/1`);
    await r.until('....');
    expect((await workerHealth(worker)).inFlight).toBe(1);
    // The client goes: the shield tells the worker, which ends the render
    // long before its deadline (20 s) or wall limit would.
    r.destroy();
    const left = performance.now();
    await waitFor(async () => (await workerHealth(worker)).inFlight === 0, {
      timeoutMs: 30_000,
      intervalMs: 50,
      message: 'the worker kept rendering a stream nobody reads',
    });
    expect(performance.now() - left).toBeLessThan(5000);
  }, 60_000);

  // Last: it stops the suite's worker.
  it('drains a stream in flight on SIGTERM: the client still gets the whole page', async () => {
    const worker = fleet.live('worker')[0];
    if (!worker) throw new Error('no worker');
    const r = await read(`${shield}/streamtest/page/3`);
    await r.until('Shell of 3');
    await backend.called('page-3');
    const exited = worker.child.kill('SIGTERM');
    // Draining: it waits for the slow part and the shield's pulls.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(worker.child.exitStatus).toBeUndefined();
    backend.open('page-3');
    const end = await r.ended;
    expect(end.complete).toBe(true);
    expect(end.body.toString()).toContain('the slow part of page-3');
    expect((await exited).code).toBe(0);
  }, 60_000);
});
