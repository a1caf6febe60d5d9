import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import {
  decodeRenderRequest,
  encodeRenderResult,
  encodeSchedulerAck,
  encodeSchedulerBeat,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
  traceIdOf,
  type WireErrorCode,
} from '@flotilla/protocol';
import { InProcessTransport, type Subscription } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Shield } from './shield.ts';
import type { ShieldOptions } from './shield-options.ts';
import { SiteDirectory } from './site-directory.ts';
import { environment, FakeSource, manifest } from './test-sites.ts';

const REGION = 'test-region';
const subjects = regionSubjects(REGION);
const enc = new TextEncoder();

/** Two apps in production: `shop` (also on host shop.localhost) and `app`. */
async function startSites(): Promise<SiteDirectory> {
  const source = new FakeSource([
    ['dep-shop', manifest('shop')],
    ['dep-app', manifest('app')],
  ]);
  source.set([
    environment('shop', 'production', 'dep-shop'),
    environment('app', 'production', 'dep-app'),
  ]);
  const sites = new SiteDirectory({ source });
  await sites.start();
  return sites;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

interface Req {
  method?: string;
  host?: string;
  headers?: Record<string, string | string[]>;
  body?: Uint8Array;
  /** Send the body with chunked transfer-encoding (no content-length). */
  chunked?: boolean;
}

/** One HTTP request on a fresh connection (node:http lets us set Host and hop-by-hop headers). */
function http(base: string, path: string, r: Req = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...r.headers };
    if (r.host) headers.host = r.host;
    if (r.body && !r.chunked) headers['content-length'] = String(r.body.byteLength);
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: r.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (r.body && r.chunked) {
      // Two chunks, so the body really streams.
      const half = Math.floor(r.body.byteLength / 2);
      req.write(r.body.subarray(0, half));
      req.end(r.body.subarray(half));
    } else {
      req.end(r.body);
    }
  });
}

type Answer = (req: RenderRequest) => RenderResult | Promise<RenderResult>;

/** A stand-in for the region's schedulers: serves the miss subject. */
function fakeScheduler(t: InProcessTransport, answer: Answer = ok()) {
  const received: RenderRequest[] = [];
  const sub: Subscription = t.serve(
    subjects.miss,
    async (msg) => {
      const req = decodeRenderRequest(msg);
      received.push(req);
      return encodeRenderResult(await answer(req));
    },
    { queue: subjects.schedulerQueue },
  );
  return { received, sub };
}

function ok(over: Partial<Extract<RenderResult, { ok: true }>> = {}): Answer {
  return () => ({
    ok: true,
    status: 200,
    headers: [['content-type', 'text/html; charset=utf-8']],
    body: enc.encode('<h1>hello</h1>'),
    timings: { worker: 4, render: 2, scheduler: 1, transport: 1 },
    ...over,
  });
}

function fail(code: WireErrorCode, message = 'it failed'): Answer {
  return () => ({ ok: false, error: { code, message }, timings: { worker: 1 } });
}

const shields: Shield[] = [];
const directories: SiteDirectory[] = [];
afterEach(async () => {
  await Promise.all(shields.splice(0).map((s) => s.drain()));
  for (const sites of directories.splice(0)) sites.stop();
});

/** A shield in front of {@link startSites}, forwarding every request (no cache). */
async function startShield(over: Partial<ShieldOptions> = {}) {
  const transport = over.transport ?? new InProcessTransport();
  const registry = over.registry ?? new Registry();
  const sites = await startSites();
  directories.push(sites);
  const shield = new Shield({
    transport,
    region: REGION,
    sites,
    cache: false,
    port: 0,
    registry,
    drainGraceMs: 0,
    ...over,
  });
  shields.push(shield);
  const { url, port, adminUrl } = await shield.listen();
  return { shield, url, port, adminUrl, transport: transport as InProcessTransport, registry };
}

describe('Shield', () => {
  it('answers with the render: status, headers, body and a server-timing header', async () => {
    const { url, transport } = await startShield();
    fakeScheduler(
      transport,
      ok({
        status: 201,
        headers: [
          ['content-type', 'application/octet-stream'],
          ['set-cookie', 'a=1'],
          ['set-cookie', 'b=2'],
          ['x-app', 'yes'],
        ],
        body: new Uint8Array([0, 255, 10, 13, 128]),
      }),
    );
    const res = await http(url, '/p/1', { host: 'shop.localhost' });
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['x-app']).toBe('yes');
    expect(res.headers['content-length']).toBe('5');
    expect([...res.body]).toEqual([0, 255, 10, 13, 128]);
    const timing = String(res.headers['server-timing']);
    expect(timing).toMatch(/(^|, )shield;dur=\d+\.\d\d/);
    expect(timing).toContain('worker;dur=4.00');
    expect(timing).toMatch(/transport;dur=/);
  });

  it('sends the schedulers the request: deployment, method, url, ordered headers, deadline, trace', async () => {
    const { url, port, transport } = await startShield({ requestTimeoutMs: 7000 });
    const s = fakeScheduler(transport);
    const before = Date.now();
    await http(url, '/p/1?x=1', {
      host: 'Shop.Localhost:8080',
      headers: {
        'x-z': 'last-alpha',
        accept: 'text/html',
        'x-a': 'first-alpha',
        'user-agent': 'test',
      },
    });
    const after = Date.now();
    const req = s.received[0] as RenderRequest;
    expect(req.deploymentId).toBe('dep-shop');
    expect(req.method).toBe('GET');
    expect(req.url).toBe('http://shop.localhost:8080/p/1?x=1');
    const names = req.headers.map(([k]) => k);
    expect(names.filter((n) => n.startsWith('x-') || n === 'accept')).toEqual([
      'x-z',
      'accept',
      'x-a',
    ]);
    expect(names).not.toContain('host');
    expect(names).not.toContain('x-forwarded-prefix');
    // Epoch ms on the wall clock, about requestTimeoutMs after arrival.
    expect(req.deadline).toBeGreaterThanOrEqual(before - 1 + 7000);
    expect(req.deadline).toBeLessThanOrEqual(after + 7000);
    expect(req.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(req.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(req.attempt).toBe(1);
    expect(req.body.byteLength).toBe(0);
    expect(port).toBeGreaterThan(0);
  });

  it('propagates the trace id of an incoming traceparent, with its own span, also in the forwarded headers', async () => {
    const { url, transport } = await startShield();
    const s = fakeScheduler(transport);
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await http(url, '/', { host: 'shop.localhost', headers: { traceparent: incoming } });
    const req = s.received[0] as RenderRequest;
    expect(traceIdOf(req.traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(req.traceparent).not.toBe(incoming);
    expect(req.headers.filter(([k]) => k === 'traceparent')).toEqual([
      ['traceparent', req.traceparent],
    ]);
    // Two requests without a trace get two different traces.
    await http(url, '/', { host: 'shop.localhost' });
    await http(url, '/', { host: 'shop.localhost' });
    expect(traceIdOf(s.received[1]?.traceparent ?? '')).not.toBe(
      traceIdOf(s.received[2]?.traceparent ?? ''),
    );
  });

  it('strips the app prefix and says so in x-forwarded-prefix, overriding a client-sent one', async () => {
    const { url, transport } = await startShield();
    const s = fakeScheduler(transport);
    await http(url, '/app?x=1', { host: 'localhost', headers: { 'x-forwarded-prefix': '/evil' } });
    await http(url, '/app/', { host: 'localhost' });
    await http(url, '/app/a/b', { host: 'localhost' });
    expect(s.received.map((r) => r.url)).toEqual([
      'http://localhost/?x=1',
      'http://localhost/',
      'http://localhost/a/b',
    ]);
    for (const r of s.received) {
      expect(r.deploymentId).toBe('dep-app');
      expect(r.headers.filter(([k]) => k === 'x-forwarded-prefix')).toEqual([
        ['x-forwarded-prefix', '/app'],
      ]);
    }
  });

  it('forwards a POST body byte for byte, with or without content-length', async () => {
    const { url, transport } = await startShield();
    const s = fakeScheduler(transport);
    const body = new Uint8Array(3000).map((_, i) => (i * 7) % 256);
    const a = await http(url, '/api', { method: 'POST', host: 'shop.localhost', body });
    const b = await http(url, '/api', {
      method: 'POST',
      host: 'shop.localhost',
      body,
      chunked: true,
    });
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(s.received.map((r) => r.method)).toEqual(['POST', 'POST']);
    for (const r of s.received)
      expect(Buffer.compare(Buffer.from(r.body), Buffer.from(body))).toBe(0);
    expect(s.received[1]?.headers.map(([k]) => k)).not.toContain('transfer-encoding');
  });

  it('drops hop-by-hop headers upstream and downstream, including those named in Connection', async () => {
    const { url, transport } = await startShield();
    const s = fakeScheduler(
      transport,
      ok({
        headers: [
          ['content-type', 'text/plain'],
          ['connection', 'x-upstream-hop'],
          ['x-upstream-hop', 'secret'],
          ['keep-alive', 'timeout=99'],
          ['transfer-encoding', 'chunked'],
          ['upgrade', 'websocket'],
          ['proxy-authenticate', 'Basic'],
          ['x-kept', 'yes'],
        ],
      }),
    );
    const res = await http(url, '/', {
      host: 'shop.localhost',
      headers: {
        connection: 'keep-alive, x-client-hop',
        'keep-alive': 'timeout=5',
        upgrade: 'h2c',
        te: 'trailers',
        'proxy-authorization': 'Basic Zm9v',
        'x-client-hop': 'secret',
        'x-kept': 'yes',
      },
    });
    const upstream = s.received[0]?.headers.map(([k]) => k) ?? [];
    for (const name of [
      'connection',
      'keep-alive',
      'upgrade',
      'te',
      'proxy-authorization',
      'x-client-hop',
      'host',
    ]) {
      expect(upstream, name).not.toContain(name);
    }
    expect(upstream).toContain('x-kept');
    expect(res.status).toBe(200);
    expect(res.headers['x-kept']).toBe('yes');
    expect(res.headers['x-upstream-hop']).toBeUndefined();
    expect(res.headers.upgrade).toBeUndefined();
    expect(res.headers['proxy-authenticate']).toBeUndefined();
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(res.headers['keep-alive']).not.toBe('timeout=99');
    expect(res.headers.connection).not.toContain('x-upstream-hop');
    expect(res.body.toString()).toBe('<h1>hello</h1>');
  });

  it('answers HEAD with the headers of the render and no body', async () => {
    const { url, transport } = await startShield();
    const s = fakeScheduler(transport);
    const res = await http(url, '/', { method: 'HEAD', host: 'shop.localhost' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['content-length']).toBe(String('<h1>hello</h1>'.length));
    expect(res.body.byteLength).toBe(0);
    expect(s.received[0]?.method).toBe('HEAD');
  });

  it('passes a 204 through without a content-length', async () => {
    const { url, transport } = await startShield();
    fakeScheduler(transport, ok({ status: 204, headers: [], body: new Uint8Array(0) }));
    const res = await http(url, '/', { host: 'shop.localhost' });
    expect(res.status).toBe(204);
    expect(res.headers['content-length']).toBeUndefined();
  });

  const errors: Array<[WireErrorCode, number]> = [
    ['FLOTILLA_ERR_RENDER', 502],
    ['FLOTILLA_ERR_CPU_LIMIT', 503],
    ['FLOTILLA_ERR_NO_WORKERS', 503],
    ['FLOTILLA_ERR_DEADLINE', 504],
    ['FLOTILLA_ERR_SOMETHING_NEW', 500],
  ];
  for (const [code, status] of errors) {
    it(`answers a ${code} result with ${status} and the code in the body`, async () => {
      const { url, transport } = await startShield();
      fakeScheduler(transport, fail(code, 'details here'));
      const res = await http(url, '/', { host: 'shop.localhost' });
      expect(res.status).toBe(status);
      expect(res.body.toString()).toBe(`${code}: details here\n`);
      expect(res.headers['x-flotilla-error']).toBe(code);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['server-timing']).toMatch(/shield;dur=/);
      expect(res.headers['retry-after']).toBe(status === 503 ? '1' : undefined);
    });
  }

  it('answers 503 FLOTILLA_ERR_NO_RESPONDERS at once when no scheduler serves the region', async () => {
    // A long deadline: waiting for it instead of failing fast would exceed the case's timeout.
    const { url } = await startShield({ requestTimeoutMs: 60_000 });
    const res = await http(url, '/', { host: 'shop.localhost' });
    expect(res.status).toBe(503);
    expect(res.body.toString()).toMatch(
      /^FLOTILLA_ERR_NO_RESPONDERS: no scheduler is serving region test-region/,
    );
    expect(res.headers['retry-after']).toBe('1');
  }, 10_000);

  it('answers 504 FLOTILLA_ERR_DEADLINE when the scheduler does not answer within requestTimeoutMs', async () => {
    const { url, transport } = await startShield({ requestTimeoutMs: 200 });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    fakeScheduler(transport, async (req) => {
      await held;
      return ok()(req);
    });
    const res = await http(url, '/', { host: 'shop.localhost' });
    release();
    expect(res.status).toBe(504);
    expect(res.body.toString()).toBe(
      'FLOTILLA_ERR_DEADLINE: no answer within the 200 ms request deadline\n',
    );
  });

  it('answers 404 with a short body for an unknown host and path, without asking the schedulers', async () => {
    const { url, transport } = await startShield();
    const s = fakeScheduler(transport);
    const res = await http(url, '/nope/x?y=1', { host: 'other.test' });
    expect(res.status).toBe(404);
    expect(res.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_NOT_FOUND');
    expect(res.body.toString()).toBe('FLOTILLA_ERR_NOT_FOUND: no app serves other.test/nope/x\n');
    expect(s.received).toHaveLength(0);
  });

  for (const chunked of [false, true]) {
    it(`answers 413 FLOTILLA_ERR_BODY_TOO_LARGE for a body over maxRequestBodyBytes (${chunked ? 'chunked' : 'content-length'})`, async () => {
      const { url, transport } = await startShield({ maxRequestBodyBytes: 1024 });
      const s = fakeScheduler(transport);
      const res = await http(url, '/upload', {
        method: 'POST',
        host: 'shop.localhost',
        body: new Uint8Array(4096),
        chunked,
      });
      expect(res.status).toBe(413);
      expect(res.body.toString()).toMatch(
        /^FLOTILLA_ERR_BODY_TOO_LARGE: request body (of 4096 bytes )?is over (the limit of )?1024( bytes)?\n$/,
      );
      expect(s.received).toHaveLength(0);
      // A body at the limit still goes through.
      const atLimit = await http(url, '/upload', {
        method: 'POST',
        host: 'shop.localhost',
        body: new Uint8Array(1024),
        chunked,
      });
      expect(atLimit.status).toBe(200);
      expect(s.received[0]?.body.byteLength).toBe(1024);
    });
  }

  it('serves /healthz as JSON', async () => {
    const { url } = await startShield();
    const res = await http(url, '/healthz', { host: 'localhost' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body.toString())).toEqual({
      status: 'ok',
      role: 'shield',
      region: REGION,
      transport: 'in-process',
      connected: true,
      draining: false,
    });
  });

  it('stays ready on /healthz without its transport (it still serves what it cached), saying so', async () => {
    const { url, transport } = await startShield();
    await transport.drain();
    const res = await http(url, '/healthz', { host: 'localhost' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 'ok', connected: false });
  });

  it('serves Prometheus metrics on its admin listener, counting requests by app and status', async () => {
    const { url, adminUrl, transport } = await startShield();
    fakeScheduler(transport);
    await http(url, '/', { host: 'shop.localhost' });
    await http(url, '/nope', { host: 'localhost' });
    const res = await http(adminUrl, '/metrics', { host: 'localhost' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.body.toString();
    expect(text).toContain(
      'flotilla_shield_requests_total{app="shop",status="200",region="test-region",cache="none"} 1',
    );
    expect(text).toContain(
      'flotilla_shield_requests_total{app="none",status="404",region="test-region",cache="none"} 1',
    );
    expect(text).toContain(
      'flotilla_shield_errors_total{code="FLOTILLA_ERR_NOT_FOUND",region="test-region"} 1',
    );
  });

  it('keeps /metrics and the index off the traffic port: a host no app serves gets the 404', async () => {
    const { url } = await startShield();
    for (const path of ['/metrics', '/']) {
      const res = await http(url, path, { host: 'localhost' });
      expect(res.status).toBe(404);
      expect(res.body.toString()).toBe(`FLOTILLA_ERR_NOT_FOUND: no app serves localhost${path}\n`);
    }
    expect((await http(url, '/livez', { host: 'localhost' })).status).toBe(200);
  });

  it('lists its apps on / of its admin listener', async () => {
    const { adminUrl, port } = await startShield();
    const res = await http(adminUrl, '/', { host: 'localhost' });
    expect(res.status).toBe(200);
    const html = res.body.toString();
    expect(html).toContain('shop production: <a href="/shop/">/shop/</a>');
    expect(html).toContain(`http://shop.localhost:${port}/`);
  });

  it('drain() lets a request in flight finish with 200, then refuses connections', async () => {
    const { shield, url, transport } = await startShield();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inScheduler = new Promise<void>((r) => {
      entered = r;
    });
    fakeScheduler(transport, async (req) => {
      entered();
      await held;
      return ok()(req);
    });
    const pending = http(url, '/', { host: 'shop.localhost' });
    await inScheduler;
    expect(shield.inFlight).toBe(1);
    const drained = shield.drain();
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('<h1>hello</h1>');
    await drained;
    await expect(http(url, '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('during the drain grace, serves a request on an open keep-alive connection with Connection: close', async () => {
    const { shield, url, transport } = await startShield({ drainGraceMs: 2000 });
    fakeScheduler(transport);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const get = () =>
        new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
          const u = new URL(url);
          httpRequest(
            {
              host: u.hostname,
              port: u.port,
              path: '/p/1',
              headers: { host: 'shop.localhost' },
              agent,
            },
            (res) => {
              res.resume();
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
              );
            },
          )
            .on('error', reject)
            .end();
        });
      expect((await get()).status).toBe(200);
      const drained = shield.drain();
      // The same kept-alive connection still gets its answer, and is told to close.
      expect(await get()).toEqual({ status: 200, connection: 'close' });
      await drained;
    } finally {
      agent.destroy();
    }
  });

  it('drain() finishes while a client holds an idle keep-alive connection', async () => {
    const { shield, url, transport } = await startShield();
    fakeScheduler(transport);
    const res = await fetch(`${url}/shop/`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await shield.drain();
    await expect(http(url, '/healthz')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('validates its options, naming the option', async () => {
    const transport = new InProcessTransport();
    const base = { transport, region: REGION };
    const cases: Array<[Partial<ShieldOptions>, RegExp]> = [
      [{ port: -1 }, /option "port" must be an integer ≥ 0, got -1/],
      [{ port: 65536 }, /option "port" must be at most 65535/],
      [{ port: 1.5 }, /option "port"/],
      [{ requestTimeoutMs: 0 }, /option "requestTimeoutMs"/],
      [{ maxRequestBodyBytes: -5 }, /option "maxRequestBodyBytes"/],
      [{ transport: undefined }, /option "transport" is required/],
      [{ region: 'a.*' }, /option "region"/],
    ];
    for (const [over, message] of cases) {
      expect(() => new Shield({ ...base, ...over } as ShieldOptions), message.source).toThrow(
        message,
      );
    }
    expect(() => new Shield(undefined as unknown as ShieldOptions)).toThrow(
      /option "transport" is required/,
    );
  });
});

describe('Shield when a scheduler dies or a region has none', () => {
  /**
   * A scheduler that acknowledges each request and heartbeats every 30 ms;
   * `die()` stops its heartbeats and leaves the requests it holds unanswered.
   */
  function ackingScheduler(
    t: InProcessTransport,
    id: string,
    answer: Answer = ok(),
    region = REGION,
  ) {
    const s = regionSubjects(region);
    let alive = true;
    const received: RenderRequest[] = [];
    const beat = () =>
      t.publish(s.schedulerHeartbeat, encodeSchedulerBeat({ schedulerId: id, intervalMs: 30 }));
    beat();
    const timer = setInterval(() => alive && beat(), 30);
    const sub = t.serve(
      s.miss,
      async (msg) => {
        const req = decodeRenderRequest(msg);
        received.push(req);
        if (req.ackTo)
          t.publish(req.ackTo, encodeSchedulerAck({ requestId: req.requestId, schedulerId: id }));
        if (!alive) return new Promise<never>(() => {});
        const result = await answer(req);
        if (!alive) return new Promise<never>(() => {});
        return encodeRenderResult(result);
      },
      { queue: s.schedulerQueue },
    );
    return {
      received,
      die: async () => {
        alive = false;
        clearInterval(timer);
        await sub.drain().catch(() => {});
      },
      stop: () => clearInterval(timer),
    };
  }

  it('sends a GET again through another scheduler when the one holding it dies', async () => {
    const { url, transport, registry } = await startShield();
    let dying: ReturnType<typeof ackingScheduler> | undefined;
    dying = ackingScheduler(transport, 's-dying', async () => {
      void dying?.die();
      return new Promise<never>(() => {});
    });
    await new Promise((r) => setTimeout(r, 10));
    const res = http(url, '/p/1', { host: 'shop.localhost' });
    // Once the dying one took the request, a healthy one joins the queue group.
    while ((dying?.received.length ?? 0) === 0) await new Promise((r) => setTimeout(r, 5));
    const healthy = ackingScheduler(transport, 's-ok');
    try {
      const reply = await res;
      expect(reply.status).toBe(200);
      expect(healthy.received).toHaveLength(1);
      expect(healthy.received[0]?.attempt).toBe(2);
      expect(await registry.getSingleMetricAsString('flotilla_shield_retries_total')).toMatch(
        /reason="FLOTILLA_ERR_SCHEDULER_LOST"[^\n]* 1/,
      );
    } finally {
      healthy.stop();
    }
  });

  it('fails a POST with 502 FLOTILLA_ERR_SCHEDULER_LOST instead of sending it twice', async () => {
    const { url, transport } = await startShield();
    let dying: ReturnType<typeof ackingScheduler> | undefined;
    dying = ackingScheduler(transport, 's-dying', async () => {
      void dying?.die();
      return new Promise<never>(() => {});
    });
    const res = await http(url, '/orders', {
      host: 'shop.localhost',
      method: 'POST',
      body: enc.encode('order'),
    });
    expect(res.status).toBe(502);
    expect(res.body.toString()).toMatch(/^FLOTILLA_ERR_SCHEDULER_LOST: scheduler s-dying stopped/);
    expect(dying.received).toHaveLength(1);
  });

  it('sends the request again when no scheduler acknowledged it within ackTimeoutMs', async () => {
    const { url, transport } = await startShield({ ackTimeoutMs: 100 });
    // A scheduler that swallows requests without acknowledging them.
    const silent = transport.serve(subjects.miss, () => new Promise<never>(() => {}), {
      queue: subjects.schedulerQueue,
    });
    const res = http(url, '/p/1', { host: 'shop.localhost' });
    await new Promise((r) => setTimeout(r, 20));
    void silent.drain(); // stops taking requests at once; its handler never settles
    const healthy = ackingScheduler(transport, 's-ok');
    try {
      expect((await res).status).toBe(200);
      expect(healthy.received[0]?.attempt).toBe(2);
    } finally {
      healthy.stop();
    }
  });

  it('fails over to the secondary region when the primary has no scheduler', async () => {
    const { url, transport, registry } = await startShield({ secondaryRegion: 'west' });
    const west = ackingScheduler(transport, 's-west', ok(), 'west');
    try {
      const res = await http(url, '/p/1', { host: 'shop.localhost' });
      expect(res.status).toBe(200);
      expect(res.headers['server-timing']).toMatch(/region;desc="west"/);
      expect(west.received).toHaveLength(1);
      expect(await registry.getSingleMetricAsString('flotilla_shield_failovers_total')).toMatch(
        /from="test-region",to="west"[^\n]* 1/,
      );
    } finally {
      west.stop();
    }
  });

  it('refuses a secondary region equal to the primary', async () => {
    await expect(startShield({ secondaryRegion: REGION })).rejects.toThrow(
      /secondaryRegion.*must differ/,
    );
  });
});
