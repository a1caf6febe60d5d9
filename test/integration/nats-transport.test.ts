import { FlotillaError } from '@flotilla/protocol';
import { type NatsServerHandle, startNatsServer } from '@flotilla/test-harness';
import { NatsTransport } from '@flotilla/transport';
import { transportContract } from '@flotilla/transport/contract';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let nats: NatsServerHandle;

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  await nats?.stop();
});

async function connection(): Promise<NatsConnection> {
  return connect({ servers: nats.url });
}

async function closeAll(connections: NatsConnection[]): Promise<void> {
  await Promise.all(
    connections.map((nc) => (nc.isClosed() ? undefined : nc.close().catch(() => {}))),
  );
}

const enc = new TextEncoder();

// Client and both servers on separate connections, as separate processes would be.
transportContract('NatsTransport', async () => {
  const ncs = await Promise.all([connection(), connection(), connection()]);
  const [c, s1, s2] = ncs as [NatsConnection, NatsConnection, NatsConnection];
  return {
    client: new NatsTransport({ connection: c }),
    server: new NatsTransport({ connection: s1 }),
    server2: new NatsTransport({ connection: s2 }),
    settle: async () => {
      await Promise.all(
        ncs.filter((nc) => !nc.isClosed() && !nc.isDraining()).map((nc) => nc.flush()),
      );
    },
    close: () => closeAll(ncs),
  };
});

describe('NatsTransport over a real nats-server', () => {
  it('hands header names back lower-case', async () => {
    const [a, b] = [await connection(), await connection()];
    const client = new NatsTransport({ connection: a });
    const server = new NatsTransport({ connection: b });
    let seen: Record<string, string> = {};
    server.serve('nats.case', async (m) => {
      seen = m.headers;
      return { headers: { 'Content-Type': 'text/html', 'X-Flotilla-Thing': 'v' }, body: m.body };
    });
    await b.flush();
    const reply = await client.request(
      'nats.case',
      { headers: { 'Flotilla-V': '1', TraceParent: 'tp' }, body: enc.encode('x') },
      { timeoutMs: 5000 },
    );
    expect(seen).toEqual({ 'flotilla-v': '1', traceparent: 'tp' });
    expect(reply.headers).toEqual({ 'content-type': 'text/html', 'x-flotilla-thing': 'v' });
    await Promise.all([client.drain(), server.drain()]);
  });

  it('reports a handler that throws to onHandlerError with its subject', async () => {
    const [a, b] = [await connection(), await connection()];
    const errors: Array<[string, string]> = [];
    const client = new NatsTransport({ connection: a });
    const server = new NatsTransport({
      connection: b,
      onHandlerError: (err, subject) => errors.push([(err as Error).message, subject]),
    });
    server.serve('nats.throws', async () => {
      throw new Error('handler bug');
    });
    await b.flush();
    await expect(
      client.request('nats.throws', { headers: {}, body: enc.encode('x') }, { timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: 'FLOTILLA_ERR_TIMEOUT' });
    expect(errors).toEqual([['handler bug', 'nats.throws']]);
    await Promise.all([client.drain(), server.drain()]);
  });

  it('fails a request still waiting when its own transport drains with FLOTILLA_ERR_TRANSPORT_CLOSED', async () => {
    const [a, b] = [await connection(), await connection()];
    const client = new NatsTransport({ connection: a });
    const server = new NatsTransport({ connection: b });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    server.serve('nats.pending', async (m) => {
      entered();
      await held;
      return m;
    });
    await b.flush();
    const pending = client.request(
      'nats.pending',
      { headers: {}, body: enc.encode('x') },
      { timeoutMs: 10_000 },
    );
    pending.catch(() => {});
    await inHandler;
    await client.drain();
    const err = await pending.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlotillaError);
    expect((err as FlotillaError).code).toBe('FLOTILLA_ERR_TRANSPORT_CLOSED');
    release();
    await server.drain();
  });

  it('keeps the bytes of a 512 KiB body', async () => {
    const [a, b] = [await connection(), await connection()];
    const client = new NatsTransport({ connection: a });
    const server = new NatsTransport({ connection: b });
    server.serve('nats.big', async (m) => ({ headers: {}, body: m.body }));
    await b.flush();
    const body = new Uint8Array(512 * 1024).map((_, i) => (i * 31) % 256);
    const reply = await client.request('nats.big', { headers: {}, body }, { timeoutMs: 5000 });
    expect(reply.body.byteLength).toBe(body.byteLength);
    expect(Buffer.compare(reply.body, body)).toBe(0);
    await Promise.all([client.drain(), server.drain()]);
  });

  it('fails a chunked reply that loses a chunk with FLOTILLA_ERR_REPLY_INCOMPLETE, never a truncated body', async () => {
    const [a, b] = [await connection(), await connection()];
    const client = new NatsTransport({ connection: a });
    // A responder that announces three chunks and serves only the second:
    // the third is lost.
    const pull = 'flotilla.chunks.lossy';
    b.subscribe('nats.lossy', {
      callback: (_, m) => {
        const h = headers();
        h.set('flotilla-chunks', '3');
        h.set('flotilla-chunked-bytes', '30');
        h.set('flotilla-chunk-pull', pull);
        m.respond(enc.encode('0123456789'), { headers: h });
      },
    });
    b.subscribe(pull, {
      callback: (_, m) => {
        if (m.headers?.get('flotilla-chunk') !== '1') return;
        const h = headers();
        h.set('flotilla-chunk', '1');
        m.respond(enc.encode('abcdefghij'), { headers: h });
      },
    });
    await b.flush();
    await expect(
      client.request('nats.lossy', { headers: {}, body: enc.encode('x') }, { timeoutMs: 1000 }),
    ).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_REPLY_INCOMPLETE',
      message: expect.stringMatching(/chunk 2 of 3 did not arrive/),
    });
    await client.drain();
    await b.close();
  });

  it('fails a chunked reply whose chunks do not add up to the size it announced', async () => {
    const [a, b] = [await connection(), await connection()];
    const client = new NatsTransport({ connection: a });
    const pull = 'flotilla.chunks.short';
    b.subscribe('nats.short', {
      callback: (_, m) => {
        const h = headers();
        h.set('flotilla-chunks', '2');
        h.set('flotilla-chunked-bytes', '25');
        h.set('flotilla-chunk-pull', pull);
        m.respond(enc.encode('0123456789'), { headers: h });
      },
    });
    b.subscribe(pull, {
      callback: (_, m) => {
        const h = headers();
        h.set('flotilla-chunk', m.headers?.get('flotilla-chunk') ?? '');
        m.respond(enc.encode('abc'), { headers: h });
      },
    });
    await b.flush();
    await expect(
      client.request('nats.short', { headers: {}, body: enc.encode('x') }, { timeoutMs: 1000 }),
    ).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_REPLY_INCOMPLETE',
      message: expect.stringMatching(/hold 13 bytes, not 25/),
    });
    await client.drain();
    await b.close();
  });

  it('a responder draining waits until its chunked reply was pulled', async () => {
    const [a, b] = [await connection(), await connection()];
    const client = new NatsTransport({ connection: a });
    const server = new NatsTransport({ connection: b });
    const body = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => {
      entered = r;
    });
    server.serve('nats.huge', async () => {
      entered();
      await new Promise((r) => setImmediate(r));
      return { headers: {}, body };
    });
    await b.flush();
    const reply = client.request(
      'nats.huge',
      { headers: {}, body: enc.encode('x') },
      {
        timeoutMs: 10_000,
      },
    );
    await inHandler;
    // The whole transport: its connection closes only after the chunks were pulled.
    const drained = server.drain();
    const got = await reply;
    await drained;
    expect(Buffer.compare(got.body, body)).toBe(0);
    await client.drain();
  });

  it('refuses to be built without a connection', () => {
    expect(() => new NatsTransport({} as never)).toThrow(/"connection"/);
  });
});
