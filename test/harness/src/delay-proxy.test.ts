import { once } from 'node:events';
import { createConnection, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DelayProxy, startDelayProxy } from './delay-proxy.ts';

let echo: Server;
let proxy: DelayProxy;
const DELAY_MS = 60;

beforeAll(async () => {
  echo = createServer((socket) => socket.pipe(socket));
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const port = (echo.address() as { port: number }).port;
  proxy = await startDelayProxy({ target: { host: '127.0.0.1', port }, delayMs: DELAY_MS });
});

afterAll(async () => {
  await proxy?.close();
  echo?.close();
});

/** Sends `data` through the proxy to the echo server; resolves with what came back and when. */
async function roundTrip(data: Buffer): Promise<{ back: Buffer; ms: number }> {
  const socket = createConnection({ host: proxy.host, port: proxy.port });
  await once(socket, 'connect');
  const chunks: Buffer[] = [];
  let got = 0;
  const t = performance.now();
  const done = new Promise<number>((resolve) => {
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= data.length) resolve(performance.now() - t);
    });
  });
  socket.write(data);
  const ms = await done;
  socket.destroy();
  return { back: Buffer.concat(chunks), ms };
}

describe('startDelayProxy', () => {
  it('forwards both ways, a round trip taking at least twice the delay', async () => {
    const { back, ms } = await roundTrip(Buffer.from('ping'));
    expect(back.toString()).toBe('ping');
    expect(ms).toBeGreaterThanOrEqual(2 * DELAY_MS - 1);
  });

  it('keeps the bytes of a large transfer in order', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) % 251;
    const { back } = await roundTrip(data);
    expect(back.equals(data)).toBe(true);
  });

  it('refuses a negative delay', async () => {
    await expect(
      startDelayProxy({ target: { host: '127.0.0.1', port: 1 }, delayMs: -1 }),
    ).rejects.toThrow(/delayMs/);
  });
});
