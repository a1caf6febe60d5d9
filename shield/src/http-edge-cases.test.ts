import { connect } from 'node:net';
import {
  decodeRenderRequest,
  encodeRenderResult,
  type RenderRequest,
  regionSubjects,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Shield } from './shield.ts';
import type { ShieldOptions } from './shield-options.ts';
import { SiteDirectory } from './site-directory.ts';
import { environment, FakeSource, manifest } from './test-sites.ts';

// HTTP the shield's front door must answer with a Flotilla error, sent on a
// raw TCP connection (no HTTP client would send most of it) to a real shield.

const REGION = 'edge';

const shields: Shield[] = [];
const directories: SiteDirectory[] = [];
afterEach(async () => {
  await Promise.all(shields.splice(0).map((s) => s.drain()));
  for (const sites of directories.splice(0)) sites.stop();
});

/** A shield (no cache) serving app `shop`, and the render requests its scheduler received. */
async function startShield(over: Partial<ShieldOptions> = {}) {
  const source = new FakeSource([['dep-shop', manifest('shop')]]);
  source.set([environment('shop', 'production', 'dep-shop')]);
  const sites = new SiteDirectory({ source });
  await sites.start();
  directories.push(sites);
  const transport = new InProcessTransport();
  const received: RenderRequest[] = [];
  const subjects = regionSubjects(REGION);
  transport.serve(
    subjects.miss,
    async (msg) => {
      received.push(decodeRenderRequest(msg));
      return encodeRenderResult({
        ok: true,
        status: 200,
        headers: [['content-type', 'text/plain']],
        body: new TextEncoder().encode('rendered'),
        timings: { worker: 1 },
      });
    },
    { queue: subjects.schedulerQueue },
  );
  const shield = new Shield({
    transport,
    region: REGION,
    sites,
    cache: false,
    port: 0,
    registry: new Registry(),
    drainGraceMs: 0,
    ...over,
  });
  shields.push(shield);
  const { port } = await shield.listen();
  return { port, received };
}

interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The first response in `raw` (a chunked body is joined). */
function parseReply(raw: string): RawReply {
  const headEnd = raw.indexOf('\r\n\r\n');
  if (headEnd === -1) throw new Error(`no HTTP response in ${JSON.stringify(raw.slice(0, 200))}`);
  const [statusLine = '', ...lines] = raw.slice(0, headEnd).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.slice(headEnd + 4);
  if (headers['transfer-encoding'] === 'chunked') {
    let joined = '';
    let rest = body;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.slice(0, lineEnd), 16);
      if (!(size > 0)) break;
      joined += rest.slice(lineEnd + 2, lineEnd + 2 + size);
      rest = rest.slice(lineEnd + 2 + size + 2);
    }
    body = joined;
  } else if (headers['content-length'] !== undefined) {
    body = body.slice(0, Number(headers['content-length']));
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

/** Writes `text` on a new connection and reads until the shield closes it (or 5 s pass). */
function exchange(port: number, text: string): Promise<{ reply: RawReply; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    const timer = setTimeout(() => finish(false), 5000);
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      try {
        resolve({ reply: parseReply(raw), closed });
      } catch (err) {
        reject(err);
      }
    };
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => {});
    socket.write(text);
  });
}

/**
 * Sends `head`, then a chunked body without end (64 KiB chunks) until the
 * shield closes the connection or `maxBytes` have been sent.
 */
function streamChunked(
  port: number,
  head: string,
  maxBytes: number,
): Promise<{ reply: RawReply; sent: number; closedByShield: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunk = Buffer.concat([
      Buffer.from('10000\r\n'),
      Buffer.alloc(0x10000, 'a'),
      Buffer.from('\r\n'),
    ]);
    let raw = '';
    let sent = 0;
    let done = false;
    const finish = (closedByShield: boolean) => {
      if (done) return;
      done = true;
      socket.destroy();
      try {
        resolve({ reply: parseReply(raw), sent, closedByShield });
      } catch (err) {
        reject(err);
      }
    };
    const pump = () => {
      while (!done && !socket.destroyed) {
        if (sent >= maxBytes) {
          finish(false);
          return;
        }
        sent += 0x10000;
        if (!socket.write(chunk)) {
          socket.once('drain', pump);
          return;
        }
      }
    };
    socket.on('data', (d: Buffer) => {
      raw += d.toString('latin1');
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.write(head);
    pump();
  });
}

function expectFlotillaError(reply: RawReply, status: number, code: string, message: RegExp) {
  expect({ status: reply.status, code: reply.headers['x-flotilla-error'] }).toEqual({
    status,
    code,
  });
  expect(reply.body).toMatch(new RegExp(`^${code}: `));
  expect(reply.body).toMatch(message);
}

describe('the shield on HTTP edge cases', () => {
  it('answers 400 to a request line with no HTTP version, without rendering', async () => {
    const { port, received } = await startShield();
    const { reply, closed } = await exchange(port, 'GET /shop/\r\n\r\n');
    expectFlotillaError(reply, 400, 'FLOTILLA_ERR_BAD_REQUEST', /no HTTP version/);
    expect(closed).toBe(true);
    expect(received).toHaveLength(0);
    // The same request with a version renders.
    const ok = await exchange(port, 'GET /shop/ HTTP/1.0\r\n\r\n');
    expect(ok.reply.status).toBe(200);
    expect(received).toHaveLength(1);
  });

  it('answers CONNECT with 405 FLOTILLA_ERR_METHOD_NOT_ALLOWED and the methods it allows', async () => {
    const { port, received } = await startShield();
    const { reply, closed } = await exchange(
      port,
      'CONNECT shop.localhost:443 HTTP/1.1\r\nHost: shop.localhost:443\r\n\r\n',
    );
    expectFlotillaError(reply, 405, 'FLOTILLA_ERR_METHOD_NOT_ALLOWED', /CONNECT/);
    expect(reply.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
    expect(closed).toBe(true);
    expect(received).toHaveLength(0);
  });

  it('answers 400 FLOTILLA_ERR_BAD_REQUEST to an HTTP/1.1 request without Host (HTTP/1.0 needs none)', async () => {
    const { port, received } = await startShield();
    const { reply } = await exchange(port, 'GET /shop/ HTTP/1.1\r\n\r\n');
    expectFlotillaError(reply, 400, 'FLOTILLA_ERR_BAD_REQUEST', /no host header/);
    expect(received).toHaveLength(0);
    const old = await exchange(port, 'GET /shop/ HTTP/1.0\r\n\r\n');
    expect(old.reply.status).toBe(200);
  });

  it('answers 431 "too many headers" to 999 tiny headers, and still blames size for one large one', async () => {
    const { port, received } = await startShield();
    const headers = (n: number) => Array.from({ length: n }, (_, i) => `x-${i}: a\r\n`).join('');
    const many = await exchange(port, `GET /shop/ HTTP/1.1\r\nHost: a\r\n${headers(998)}\r\n`);
    expectFlotillaError(
      many.reply,
      431,
      'FLOTILLA_ERR_HEADERS_TOO_LARGE',
      /too many headers: the request has 999, over the limit of 100/,
    );
    expect(received).toHaveLength(0);
    // 100 headers (Host and 99 more) are within the default.
    const within = await exchange(
      port,
      `GET /shop/ HTTP/1.1\r\nHost: a\r\nConnection: close\r\n${headers(98)}\r\n`,
    );
    expect(within.reply.status).toBe(200);
    const large = await exchange(
      port,
      `GET /shop/ HTTP/1.1\r\nHost: a\r\nx-pad: ${'b'.repeat(33_000)}\r\n\r\n`,
    );
    expectFlotillaError(
      large.reply,
      431,
      'FLOTILLA_ERR_HEADERS_TOO_LARGE',
      /bytes, over the limit/,
    );
  });

  it('answers 413 to a chunked GET body past the body limit, and closes instead of reading on', async () => {
    const limit = 64 * 1024;
    const { port, received } = await startShield({ maxRequestBodyBytes: limit });
    const res = await streamChunked(
      port,
      'GET /shop/ HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding: chunked\r\n\r\n',
      1000 * limit,
    );
    expectFlotillaError(res.reply, 413, 'FLOTILLA_ERR_BODY_TOO_LARGE', /GET body/);
    expect(res.closedByShield).toBe(true);
    expect(received).toHaveLength(0);
    // A small chunked GET body is read, discarded, and the page rendered.
    const small = await exchange(
      port,
      'GET /shop/ HTTP/1.1\r\nHost: shop.localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
    );
    expect(small.reply.status).toBe(200);
    expect(received[0]?.body.byteLength).toBe(0);
  });

  it('stops reading a chunked body nobody consumes once the answer is sent (a 404 here)', async () => {
    const limit = 64 * 1024;
    const { port } = await startShield({ maxRequestBodyBytes: limit });
    const res = await streamChunked(
      port,
      'POST /nowhere HTTP/1.1\r\nHost: nowhere.example\r\nTransfer-Encoding: chunked\r\n\r\n',
      1000 * limit,
    );
    expect(res.reply.status).toBe(404);
    expect(res.closedByShield).toBe(true);
  });
});
