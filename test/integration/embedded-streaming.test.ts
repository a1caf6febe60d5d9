/**
 * Streaming SSR in the embedded fleet (`./run start`: every role in one
 * process over the in-process transport): the shell of a React page whose
 * slow part suspends arrives before it, the page completes and is then a
 * cache hit, and a 9 MiB streamed body arrives intact.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningFleet, startEmbedded } from '@flotilla/fleet';
import { httpRequest, publishBundle } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SlowBackend, startSlowBackend, streamApp } from '../support/stream-bundles.ts';

let fleet: RunningFleet;
let dir: string;
let backend: SlowBackend;

beforeAll(async () => {
  backend = await startSlowBackend();
  dir = await mkdtemp(join(tmpdir(), 'flotilla-embedded-stream-'));
  fleet = await startEmbedded({
    port: 0,
    workers: 1,
    storeDir: join(dir, 'store'),
    seed: async (cp) => {
      await publishBundle(cp, dir, streamApp(backend.origin));
      return undefined;
    },
  });
}, 60_000);

afterAll(async () => {
  await fleet?.drain();
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** GETs `url`; `onChunk` sees the text so far after each chunk; resolves with the body and whether it ended properly. */
function get(url: string, onChunk?: (text: string) => void) {
  return new Promise<{ body: Buffer; complete: boolean; headers: Record<string, unknown> }>(
    (resolve, reject) => {
      request(url, { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          onChunk?.(Buffer.concat(chunks).toString());
        });
        res.on('error', () => {});
        res.on('close', () =>
          resolve({ body: Buffer.concat(chunks), complete: res.complete, headers: res.headers }),
        );
      })
        .on('error', reject)
        .end();
    },
  );
}

describe('embedded fleet, streamed bodies', () => {
  it('streams the shell first, then completes and caches the page', async () => {
    let shellFirst = false;
    const page = get(`${fleet.url}/streamtest/page/1`, (text) => {
      if (text.includes('Shell of 1') && !shellFirst) {
        shellFirst = !text.includes('the slow part');
        void backend.called('page-1').then(() => backend.open('page-1'));
      }
    });
    const done = await page;
    expect(shellFirst).toBe(true);
    expect(done.complete).toBe(true);
    expect(done.body.toString()).toContain('the slow part of page-1');
    let hit = await httpRequest(fleet.url, '/streamtest/page/1');
    for (let i = 0; i < 50 && !/hit/.test(String(hit.headers['cache-status'])); i++) {
      await new Promise((r) => setTimeout(r, 100));
      hit = await httpRequest(fleet.url, '/streamtest/page/1');
    }
    expect(hit.headers['cache-status']).toMatch(/hit/);
    expect(hit.body).toBe(done.body.toString());
  }, 60_000);

  it('streams a 9 MiB body intact', async () => {
    const { body, complete } = await get(`${fleet.url}/streamtest/big/1`);
    expect(complete).toBe(true);
    const expected = Buffer.alloc(9 * 1024 * 1024);
    for (let i = 0; i < expected.length; i++) expected[i] = (i * 7) % 251;
    expect(createHash('sha256').update(body).digest('hex')).toBe(
      createHash('sha256').update(expected).digest('hex'),
    );
  }, 60_000);
});
