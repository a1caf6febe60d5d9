import { describe, expect, it } from 'vitest';
import { InProcessTransport } from './in-process-transport.ts';
import { transportContract } from './transport-contract.ts';

transportContract('InProcessTransport', async () => {
  const t = new InProcessTransport();
  return { client: t, server: t, server2: t, settle: async () => {}, close: () => t.drain() };
});

describe('InProcessTransport', () => {
  it('copies messages on every hop, as a wire would', async () => {
    const t = new InProcessTransport();
    const reply = { headers: { 'x-r': 'original' }, body: new Uint8Array([1, 2, 3]) };
    t.serve('copy', async (m) => {
      m.headers['x-q'] = 'changed by handler';
      m.body[0] = 99;
      return reply;
    });
    const request = { headers: { 'x-q': 'original' }, body: new Uint8Array([7, 8, 9]) };
    const got = await t.request('copy', request, { timeoutMs: 1000 });
    expect(request.headers['x-q']).toBe('original');
    expect(Array.from(request.body)).toEqual([7, 8, 9]);
    got.body[0] = 42;
    got.headers['x-r'] = 'changed by requester';
    expect(Array.from(reply.body)).toEqual([1, 2, 3]);
    expect(reply.headers['x-r']).toBe('original');
    await t.drain();
  });

  it('says what it is', () => {
    expect(new InProcessTransport().kind).toBe('in-process');
  });
});
