import { describe, expect, it } from 'vitest';
import { freePort } from './free-port.ts';
import { httpGet, listen } from './http.ts';
import { waitFor } from './wait-for.ts';

describe('listen + httpGet', () => {
  it('round-trips a request on 127.0.0.1', async () => {
    const server = await listen((req, res) => {
      res.setHeader('x-echo', req.headers['x-test'] ?? '');
      res.end(`hello ${req.url}`);
    });
    try {
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
      const response = await httpGet(`${server.url}/p/1`, { headers: { 'x-test': 'yes' } });
      expect(response.status).toBe(200);
      expect(response.headers.get('x-echo')).toBe('yes');
      expect(response.body).toBe('hello /p/1');
    } finally {
      await server.close();
    }
    await server.close(); // idempotent
    await expect(httpGet(server.url, { timeoutMs: 1_000 })).rejects.toThrow(/failed/);
  });

  it('times out a hanging response with a clear error', async () => {
    const server = await listen(() => {
      // never answers
    });
    try {
      await expect(httpGet(server.url, { timeoutMs: 100 })).rejects.toThrow(
        /timed out after 100 ms/,
      );
    } finally {
      await server.close();
    }
  });
});

describe('freePort / waitFor', () => {
  it('returns a bindable port', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const server = await listen((_req, res) => res.end());
    await server.close();
  });

  it('polls until true, and rejects with the message (and last error) on timeout', async () => {
    let calls = 0;
    await waitFor(() => ++calls >= 3, { intervalMs: 5 });
    expect(calls).toBe(3);
    const failing = waitFor(
      () => {
        throw new Error('not yet');
      },
      { timeoutMs: 50, intervalMs: 5, message: 'never became true' },
    );
    await expect(failing).rejects.toThrow('never became true');
    await expect(failing).rejects.toHaveProperty('cause.message', 'not yet');
    await expect(waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 50 })).rejects.toThrow(
      /not met within 50 ms/,
    );
  });
});
