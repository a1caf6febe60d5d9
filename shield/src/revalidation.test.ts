import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CacheEntry, EntryReplay } from './cache/types.ts';
import { revalidateThroughListener } from './revalidation.ts';

const TOKEN = 'revalidate-token-0123456789';
let server: Server | undefined;

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

/** A listener on 127.0.0.1 that records each request and answers `answer(req)` as cache-status. */
async function listener(answer: (req: IncomingMessage) => string): Promise<{
  port: number;
  seen: IncomingMessage[];
}> {
  const seen: IncomingMessage[] = [];
  server = createServer((req, res) => {
    seen.push(req);
    res.writeHead(200, { 'cache-status': answer(req) });
    res.end('ok');
  });
  const listening = server;
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  return { port: (listening.address() as AddressInfo).port, seen };
}

function entry(key: string, replay: EntryReplay | undefined): CacheEntry {
  return {
    key,
    status: 200,
    headers: [],
    body: new Uint8Array(0),
    storedAt: 0,
    freshUntil: 1,
    staleWhileRevalidateUntil: 1,
    staleIfErrorUntil: 1,
    app: 'shop',
    environment: 'production',
    path: '/p/1',
    url: 'shop.example/p/1',
    surrogateKeys: [],
    ...(replay ? { replay } : {}),
  };
}

const STORED = 'flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=60';
const target = (port: number) => ({
  host: '127.0.0.1',
  port,
  url: 'shop.example/p/1?a=1',
  token: TOKEN,
  timeoutMs: 10_000,
});

describe('revalidateThroughListener', () => {
  it('renders the plain encodings and each distinct stored variant once, with its headers only', async () => {
    const { port, seen } = await listener(() => STORED);
    const phoneGold: EntryReplay = {
      headers: [
        ['accept-encoding', 'gzip, deflate'],
        ['cookie', 'tier=gold'],
        ['user-agent', 'Mozilla/5.0 (iPhone)'],
      ],
    };
    const done = await revalidateThroughListener(target(port), [
      entry('k1', phoneGold),
      // Another key with the same headers (e.g. the same replay stored twice): one render.
      entry('k2', phoneGold),
      entry('k3', { headers: [['cookie', 'tier=silver']] }),
      // The same encoding as a plain visitor's `br, gzip`: no second render.
      entry('k4', { headers: [['accept-encoding', 'br']] }),
      entry('k5', { headers: [], unreplayable: 'keyed by x-flotilla-client-ip' }),
      entry('k6', undefined),
    ]);
    expect(done).toEqual({
      stored: 5,
      notRevalidated: ['k5: keyed by x-flotilla-client-ip'],
    });
    expect(seen).toHaveLength(5);
    for (const req of seen) {
      expect(req.url).toBe('/p/1?a=1');
      expect(req.headers.host).toBe('shop.example');
      expect(req.headers['x-flotilla-revalidate']).toBe(TOKEN);
    }
    const sent = seen.map((r) => [
      r.headers['accept-encoding'],
      r.headers.cookie,
      r.headers['user-agent'],
    ]);
    expect(sent).toEqual([
      ['br, gzip', undefined, undefined],
      ['gzip', undefined, undefined],
      [undefined, undefined, undefined],
      ['gzip, deflate', 'tier=gold', 'Mozilla/5.0 (iPhone)'],
      [undefined, 'tier=silver', undefined],
    ]);
  });

  it('lists a variant whose render was not stored (its old copy stays), and throws when none was', async () => {
    const { port } = await listener((req) =>
      req.headers.cookie === 'tier=gold' ? 'flotilla; fwd=uri-miss; fwd-status=500' : STORED,
    );
    const done = await revalidateThroughListener(target(port), [
      entry('k1', { headers: [['cookie', 'tier=gold']] }),
    ]);
    expect(done.stored).toBe(3);
    expect(done.notRevalidated).toEqual(['k1: 200 flotilla; fwd=uri-miss; fwd-status=500']);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    const none = await listener(() => 'flotilla; fwd=uri-miss; fwd-status=500');
    await expect(revalidateThroughListener(target(none.port), [])).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_RENDER',
    });
  });
});
