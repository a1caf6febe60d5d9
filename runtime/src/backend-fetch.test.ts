import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { traceIdOf } from '@flotilla/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GuestLogEntry } from './console-capture.ts';
import { disposeLoaded, loadBundle, rejection, request, text } from './test-helpers.ts';

/** A loopback HTTP server that records what reaches it. */
interface Backend {
  origin: string;
  port: number;
  hits: Array<{ method: string; url: string; headers: IncomingMessage['headers']; body: string }>;
  inFlight: number;
  maxInFlight: number;
  /** Requests whose connection closed before the server answered. */
  aborted: string[];
  close(): Promise<void>;
}

type Route = (req: IncomingMessage, res: ServerResponse, body: string) => void | Promise<void>;

const servers: Server[] = [];

async function backend(routes: Record<string, Route> = {}): Promise<Backend> {
  const state: Backend = {
    origin: '',
    port: 0,
    hits: [],
    inFlight: 0,
    maxInFlight: 0,
    aborted: [],
    close: async () => {},
  };
  const server = createServer(async (req, res) => {
    state.inFlight++;
    state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    res.on('close', () => {
      state.inFlight--;
      if (!res.writableFinished) state.aborted.push(req.url ?? '');
    });
    let body = '';
    for await (const chunk of req) body += chunk;
    state.hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes[path];
    if (route) {
      await route(req, res, body);
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.origin = `http://127.0.0.1:${state.port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

/** Never answers (until the server closes). */
const hang: Route = () => {};

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

let api: Backend;

beforeEach(async () => {
  api = await backend({
    '/hang': hang,
    '/slow': (_req, res) => {
      setTimeout(() => res.end('slow'), 150);
    },
    '/status': (_req, res) => {
      res.writeHead(404, 'Nope', { 'content-type': 'text/plain', 'x-backend': 'api' });
      res.end('missing');
    },
    '/big': (_req, res) => {
      res.setHeader('content-length', '5000');
      res.end('x'.repeat(5000));
    },
    '/big-chunked': (_req, res) => {
      // No content-length: the cap must hold while streaming.
      res.write('y'.repeat(600));
      setTimeout(() => res.end('y'.repeat(600)), 10);
    },
    '/bytes': (_req, res) => {
      res.setHeader('content-type', 'application/octet-stream');
      res.end(Buffer.from([0, 1, 2, 250, 255]));
    },
    '/cookies': (_req, res) => {
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.end('ok');
    },
  });
});

afterEach(async () => {
  disposeLoaded();
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

async function renderJson(
  code: string,
  options: {
    backends?: Record<string, string>;
    traceparent?: string;
    limits?: Record<string, number>;
  } = {},
): Promise<Record<string, unknown>> {
  const iso = await loadBundle(code, {
    backends: options.backends ?? { api: api.origin },
    ...(options.limits ? { limits: options.limits } : {}),
  });
  const res = await iso.render(request(), {
    ...(options.traceparent ? { traceparent: options.traceparent } : {}),
  });
  return JSON.parse(text(res.body)) as Record<string, unknown>;
}

/** A bundle that tries `fetch(url)` and answers with the error message (or the status). */
const TRY_FETCH = (url: string) => `Flotilla.serve(async () => {
  try {
    const r = await fetch(${JSON.stringify(url)});
    return Response.json({ status: r.status });
  } catch (e) {
    return Response.json({ name: e.name, message: e.message, stack: String(e.stack) });
  }
});`;

describe('backend fetch: reaching declared backends', () => {
  it('sends method, headers and body to backend://api/… with a traceparent of the render’s trace', async () => {
    const out = await renderJson(
      `Flotilla.serve(async () => {
        const r = await fetch('backend://api/items/7?x=1#frag', {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-app': 'shop', connection: 'x-secret', 'x-secret': 's', host: 'evil.test', 'keep-alive': '1', traceparent: 'mine' },
          body: JSON.stringify({ sku: 'ü-42' }),
        });
        return Response.json({ status: r.status, url: r.url, type: r.headers.get('content-type'), echo: await r.json() });
      });`,
      { traceparent: TRACEPARENT },
    );
    expect(out.status).toBe(200);
    expect(out.url).toBe(`${api.origin}/items/7?x=1`);
    expect(out.type).toBe('application/json');
    expect(api.hits).toHaveLength(1);
    const hit = api.hits[0];
    expect(hit?.method).toBe('POST');
    expect(hit?.url).toBe('/items/7?x=1');
    expect(JSON.parse(hit?.body ?? '')).toEqual({ sku: 'ü-42' });
    expect(hit?.headers['content-type']).toBe('application/json');
    expect(hit?.headers['x-app']).toBe('shop');
    // hop-by-hop, connection-listed, host and the guest's traceparent are dropped
    expect(hit?.headers['x-secret']).toBeUndefined();
    expect(hit?.headers.host).toBe(`127.0.0.1:${api.port}`);
    expect(hit?.headers['keep-alive']).toBeUndefined();
    expect(hit?.headers['user-agent']).toBe('Flotilla');
    const tp = String(hit?.headers.traceparent);
    expect(traceIdOf(tp)).toBe(TRACE_ID);
    expect(tp).not.toBe(TRACEPARENT);
  });

  it('accepts an absolute URL at a declared origin, a Request and (when present) a URL object', async () => {
    const out = await renderJson(`Flotilla.serve(async () => {
      const a = await fetch('${api.origin}/by-origin');
      const b = await fetch(new Request('backend://api/by-request', { method: 'PUT', body: 'put-body' }));
      const c = typeof URL === 'function' ? await fetch(new URL('${api.origin}/by-url')) : null;
      return Response.json({ a: a.status, b: b.status, c: c ? c.status : 'no URL global' });
    });`);
    expect(out.a).toBe(200);
    expect(out.b).toBe(200);
    const paths = api.hits.map((h) => `${h.method} ${h.url} ${h.body}`);
    expect(paths).toContain('GET /by-origin ');
    expect(paths).toContain('PUT /by-request put-body');
    if (out.c !== 'no URL global') expect(paths).toContain('GET /by-url ');
  });

  it('round-trips JSON and hands status, statusText, headers and bytes to the guest', async () => {
    const out = await renderJson(`Flotilla.serve(async () => {
      const echo = await (await fetch('backend://api/echo', { method: 'POST', body: JSON.stringify({ n: [1, 2, 3], s: 'ok' }) })).json();
      const missing = await fetch('backend://api/status');
      const bytes = new Uint8Array(await (await fetch('backend://api/bytes')).arrayBuffer());
      const cookies = await fetch('backend://api/cookies');
      return Response.json({
        echoed: JSON.parse(echo.body),
        contentType: echo.headers['content-type'],
        missing: { status: missing.status, statusText: missing.statusText, ok: missing.ok, x: missing.headers.get('x-backend'), text: await missing.text() },
        bytes: Array.from(bytes),
        cookies: cookies.headers.getSetCookie(),
        hopByHop: cookies.headers.has('connection') || cookies.headers.has('keep-alive'),
      });
    });`);
    expect(out.echoed).toEqual({ n: [1, 2, 3], s: 'ok' });
    expect(out.contentType).toBe('text/plain;charset=UTF-8');
    expect(out.missing).toEqual({
      status: 404,
      statusText: 'Nope',
      ok: false,
      x: 'api',
      text: 'missing',
    });
    expect(out.bytes).toEqual([0, 1, 2, 250, 255]);
    expect(out.cookies).toEqual(['a=1', 'b=2']);
    expect(out.hopByHop).toBe(false);
  });

  it('starts a trace when the render has no traceparent: one trace id, a new span per sub-request', async () => {
    await renderJson(`Flotilla.serve(async () => {
      await fetch('backend://api/one');
      await fetch('backend://api/two');
      return Response.json({});
    });`);
    const [one, two] = api.hits.map((h) => String(h.headers.traceparent));
    expect(traceIdOf(one ?? '')).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf(one ?? '')).toBe(traceIdOf(two ?? ''));
    expect(one).not.toBe(two);
  });

  it('reports each call’s backend and outcome to onBackendRequest', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        await fetch('backend://api/a');
        await fetch('backend://api/status');
        await fetch('http://elsewhere.test/').catch(() => {});
        return new Response('ok');
      });`,
      { backends: { api: api.origin } },
    );
    const seen: string[] = [];
    await iso.render(request(), { onBackendRequest: (b, o) => seen.push(`${b} ${o}`) });
    expect(seen).toEqual(['api 2xx', 'api 4xx', '(undeclared) refused']);
  });
});

describe('backend fetch: refusals', () => {
  it.each([
    ['http://elsewhere.test/x', 'is not a declared backend of deployment d-test'],
    ['file:///etc/passwd', 'the file: scheme is not allowed'],
    ['data:text/plain,hi', 'the data: scheme is not allowed'],
    ['ftp://127.0.0.1/', 'the ftp: scheme is not allowed'],
    ['http://127.0.0.1:1/', 'http://127.0.0.1:1 is not a declared backend'],
    ['http://localhost:PORT/', 'is not a declared backend'],
    ['https://127.0.0.1:PORT/', 'is not a declared backend'],
    ['http://user:pw@127.0.0.1:PORT/', 'URLs with credentials are not allowed'],
    ['backend://u:p@api/x', 'URLs with credentials are not allowed'],
    ['backend://nope/x', 'declares no backend named "nope"'],
    ['backend://api:8080/x', 'takes no port'],
    ['/relative', 'not an absolute URL'],
  ])('refuses %s', async (raw, why) => {
    const url = raw.replace('PORT', String(api.port));
    const out = await renderJson(TRY_FETCH(url));
    expect(out.name).toBe('TypeError');
    expect(out.message).toContain(`fetch to ${url.replace(/\/\/[^/]*@/, '//***@')}`);
    expect(out.message).toContain('refused');
    expect(out.message).toContain(why);
    expect(out.message).toContain(`(declared: api → ${api.origin})`);
    // no host stack frames reach the guest
    expect(out.stack).not.toMatch(/node:|runtime\/src|backend-|fetch-|sandbox\.ts/);
    expect(api.hits).toHaveLength(0);
  });

  it('masks credentials of a refused URL in the message', async () => {
    const out = await renderJson(TRY_FETCH(`http://user:secret@127.0.0.1:${api.port}/`));
    expect(out.message).not.toContain('secret');
  });

  it('refuses every URL when the deployment declares no backends', async () => {
    const out = await renderJson(TRY_FETCH(`${api.origin}/x`), { backends: {} });
    expect(out.message).toContain('it declares no backends');
    expect(api.hits).toHaveLength(0);
  });

  it('refuses fetch while the bundle loads (no render to hold it to)', async () => {
    const out = await renderJson(`
      let early = 'not settled';
      fetch('backend://api/x').then(() => { early = 'fetched'; }, (e) => { early = e.message; });
      Flotilla.serve(() => Response.json({ early }));`);
    expect(out.early).toContain('only available while a request renders');
    expect(api.hits).toHaveLength(0);
  });

  it('rejects the 51st sub-request of a render, naming the limit', async () => {
    const out = await renderJson(`Flotilla.serve(async () => {
      const results = [];
      for (let i = 0; i < 51; i++) {
        try { results.push((await fetch('backend://api/n' + i)).status); }
        catch (e) { results.push(e.message); }
      }
      return Response.json({ results });
    });`);
    const results = out.results as unknown[];
    expect(results.slice(0, 50).every((r) => r === 200)).toBe(true);
    expect(String(results[50])).toContain('at most 50 sub-requests');
    expect(api.hits).toHaveLength(50);
  });

  it('counts the limit per render: the next render gets 50 again', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        let ok = 0;
        for (let i = 0; i < 50; i++) if ((await fetch('backend://api/n')).ok) ok++;
        return new Response(String(ok));
      });`,
      { backends: { api: api.origin } },
    );
    expect(text((await iso.render(request())).body)).toBe('50');
    expect(text((await iso.render(request())).body)).toBe('50');
  });

  it('settles a render that fetched before the next one starts, also under the same request id', async () => {
    // Its count of calls is forgotten with the next render's start (no call
    // of its own), before that render runs: 30 + 30 calls under one id.
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        let ok = 0;
        for (let i = 0; i < 30; i++) if ((await fetch('backend://api/n')).ok) ok++;
        return new Response(String(ok));
      });`,
      { backends: { api: api.origin } },
    );
    expect(text((await iso.render(request(), { requestId: 'same' })).body)).toBe('30');
    expect(text((await iso.render(request(), { requestId: 'same' })).body)).toBe('30');
  });

  it('still cancels at once the timers of a render that fetched', async () => {
    const iso = await loadBundle(
      `globalThis.ticks = 0;
      Flotilla.serve(async (req) => {
        if (req.url.endsWith('/count')) return new Response(String(globalThis.ticks));
        await fetch('backend://api/n');
        const tick = () => { globalThis.ticks++; setTimeout(tick, 2); };
        tick();
        return new Response('started');
      });`,
      { backends: { api: api.origin } },
    );
    expect(text((await iso.render(request('http://shop.test/start'))).body)).toBe('started');
    await new Promise((r) => setTimeout(r, 60));
    expect(text((await iso.render(request('http://shop.test/count'))).body)).toBe('1');
  });

  it('validates backends at load, naming the bad one', async () => {
    const cases: Array<[unknown, string]> = [
      [{ 'Bad Name': 'http://x.test' }, 'backends.Bad Name'],
      [{ api: 'ftp://x.test' }, 'backends.api'],
      [{ api: 'http://x.test/v1' }, 'backends.api'],
      [{ api: 'http://x.test/?q=1' }, 'backends.api'],
      [{ api: 'http://u:p@x.test' }, 'backends.api'],
      [{ api: 'not a url' }, 'backends.api'],
      [{ api: 42 }, 'backends.api'],
      [['http://x.test'], 'backends'],
    ];
    for (const [backends, name] of cases) {
      const err = await rejection(
        loadBundle('Flotilla.serve(() => new Response("x"))', {
          backends: backends as Record<string, string>,
        }),
      );
      expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(err.message).toContain(`"${name}"`);
      expect(err.message).toContain('d-test');
    }
  });
});

describe('backend fetch: limits and lifecycle', () => {
  it('runs at most 6 sub-requests at once; 20 parallel fetches all complete', async () => {
    const out = await renderJson(`Flotilla.serve(async () => {
      const all = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch('backend://api/slow?i=' + i).then((r) => r.text())));
      return Response.json({ n: all.filter((t) => t === 'slow').length });
    });`);
    expect(out.n).toBe(20);
    expect(api.hits).toHaveLength(20);
    expect(api.maxInFlight).toBe(6);
  });

  it('aborts a slow backend before the wall limit; the bundle can catch it and answer', async () => {
    const out = await renderJson(
      `Flotilla.serve(async () => {
        const started = Date.now();
        try { await fetch('backend://api/hang'); return Response.json({ fetched: true }); }
        catch (e) { return Response.json({ name: e.name, message: e.message, ms: Date.now() - started }); }
      });`,
      { limits: { wallMs: 1000 } },
    );
    expect(out.name).toBe('TypeError');
    expect(out.message).toContain("backend api did not answer within the render's remaining time");
    expect(out.ms as number).toBeLessThan(1000);
    await expect.poll(() => api.aborted).toEqual(['/hang']);
  });

  it('fails the render when the bundle lets the backend timeout through (no catch)', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => new Response(await (await fetch('backend://api/hang')).text()));`,
      { backends: { api: api.origin }, limits: { wallMs: 500 } },
    );
    const err = await rejection(iso.render(request()));
    expect(['FLOTILLA_ERR_RENDER', 'FLOTILLA_ERR_WALL_LIMIT']).toContain(err.code);
    if (err.code === 'FLOTILLA_ERR_RENDER') expect(err.message).toContain('did not answer');
    await expect.poll(() => api.aborted).toEqual(['/hang']);
  });

  it('bounds sub-requests by the request deadline: the backend call is aborted, the render fails with FLOTILLA_ERR_DEADLINE', async () => {
    const logs: GuestLogEntry[] = [];
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        try { await fetch('backend://api/hang'); } catch (e) { console.log(e.message); }
        await new Promise((r) => setTimeout(r, 2000));
        return new Response('late');
      });`,
      { backends: { api: api.origin }, log: (e) => logs.push(e) },
    );
    const started = Date.now();
    const err = await rejection(
      iso.render(request(), { deadline: Date.now() + 300, requestId: 'req-deadline' }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_DEADLINE');
    expect(Date.now() - started).toBeLessThan(1000);
    await expect.poll(() => api.aborted).toEqual(['/hang']);
    await expect
      .poll(() => logs.map((l) => `${l.requestId} ${l.message}`))
      .toEqual([expect.stringMatching(/^req-deadline fetch failed: backend api did not answer/)]);
  });

  it('refuses a response body over backendResponseBytes (with and without content-length)', async () => {
    const out = await renderJson(
      `Flotilla.serve(async () => {
        const msg = async (u) => { try { return (await (await fetch(u)).text()).length; } catch (e) { return e.message; } };
        return Response.json({ big: await msg('backend://api/big'), chunked: await msg('backend://api/big-chunked'), small: await msg('backend://api/bytes') });
      });`,
      { limits: { backendResponseBytes: 1000 } },
    );
    expect(out.big).toBe(
      'fetch failed: response of backend api is over the 1000-byte cap (limits.backendResponseBytes)',
    );
    expect(out.chunked).toContain('over the 1000-byte cap');
    expect(out.small).toBe(5);
  });

  it('follows redirects within declared backends, never to an undeclared origin', async () => {
    const other = await backend();
    const cms = await backend();
    const redirecting = await backend({
      '/to-undeclared': (_req, res) => {
        res.writeHead(302, { location: `${other.origin}/stolen` });
        res.end();
      },
      '/to-same': (_req, res) => {
        res.writeHead(301, { location: '/final' });
        res.end();
      },
      '/to-cms': (_req, res) => {
        res.writeHead(307, { location: `${cms.origin}/moved` });
        res.end();
      },
      '/loop': (_req, res) => {
        res.writeHead(302, { location: '/loop' });
        res.end();
      },
    });
    const out = await renderJson(
      `Flotilla.serve(async () => {
        const attempt = async (u, init) => { try { const r = await fetch(u, init); return { status: r.status, url: r.url, redirected: r.redirected, location: r.headers.get('location') }; } catch (e) { return e.message; } };
        return Response.json({
          undeclared: await attempt('backend://api/to-undeclared'),
          manual: await attempt('backend://api/to-undeclared', { redirect: 'manual' }),
          error: await attempt('backend://api/to-same', { redirect: 'error' }),
          same: await attempt('backend://api/to-same'),
          cms: await attempt('backend://api/to-cms', { method: 'POST', body: 'b', headers: { authorization: 'Bearer t' } }),
          loop: await attempt('backend://api/loop'),
        });
      });`,
      { backends: { api: redirecting.origin, cms: cms.origin } },
    );
    expect(out.undeclared).toContain(
      `fetch failed: redirect from ${redirecting.origin}/to-undeclared to ${other.origin}/stolen refused`,
    );
    expect(other.hits).toHaveLength(0);
    expect(out.manual).toEqual({
      status: 302,
      url: `${redirecting.origin}/to-undeclared`,
      redirected: false,
      location: `${other.origin}/stolen`,
    });
    expect(out.error).toContain('redirect mode is "error"');
    expect(out.same).toEqual({
      status: 200,
      url: `${redirecting.origin}/final`,
      redirected: true,
      location: null,
    });
    expect((out.cms as { status: number }).status).toBe(200);
    expect(cms.hits[0]).toMatchObject({ method: 'POST', url: '/moved', body: 'b' });
    expect(cms.hits[0]?.headers.authorization).toBeUndefined();
    expect(out.loop).toContain('more than 5 redirects');
  });

  it('aborts the sub-requests still in flight when the render ends', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        fetch('backend://api/hang').then(() => console.log('resolved'), (e) => console.log('rejected ' + e.message));
        await new Promise((r) => setTimeout(r, 100));
        return new Response('done without waiting');
      });`,
      { backends: { api: api.origin } },
    );
    const outcomes: string[] = [];
    const res = await iso.render(request(), {
      onBackendRequest: (b, o) => outcomes.push(`${b} ${o}`),
    });
    expect(text(res.body)).toBe('done without waiting');
    expect(outcomes).toEqual(['api aborted']);
    await expect.poll(() => api.aborted).toEqual(['/hang']);
    // The isolate still serves, and no late callback of the ended render ran.
    expect(text((await iso.render(request())).body)).toBe('done without waiting');
  });

  it('aborts the sub-requests in flight when the isolate is disposed', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => new Response(await (await fetch('backend://api/hang')).text()));`,
      { backends: { api: api.origin } },
    );
    const pending = rejection(iso.render(request()));
    await expect.poll(() => api.hits.length).toBe(1);
    iso.dispose();
    expect((await pending).code).toBe('FLOTILLA_ERR_INTERNAL');
    await expect.poll(() => api.aborted).toEqual(['/hang']);
  });

  it('attributes fetches to their render when renders interleave in one isolate', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async (req) => {
        const n = Number(req.url.split('n=')[1]);
        for (let i = 0; i < 30; i++) await fetch('backend://api/x');
        console.log('done ' + n);
        return new Response(String(n));
      });`,
      { backends: { api: api.origin } },
    );
    // 2 renders × 30 = 60 calls: within each render's 50, over 50 if they were mixed up.
    const [a, b] = await Promise.all([
      iso.render(request('http://shop.test/?n=1'), { requestId: 'a' }),
      iso.render(request('http://shop.test/?n=2'), { requestId: 'b' }),
    ]);
    expect(text(a.body)).toBe('1');
    expect(text(b.body)).toBe('2');
    expect(api.hits).toHaveLength(60);
  });
});

describe('backend fetch: hostile use', () => {
  it('stops a render that keeps awaiting fetch in a loop with FLOTILLA_ERR_CPU_LIMIT', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        for (;;) { try { await fetch('backend://api/x'); } catch {} }
      });`,
      { backends: { api: api.origin }, limits: { cpuMs: 200 } },
    );
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(api.hits.length).toBeLessThanOrEqual(50);
  });

  it('bounds a synchronous burst of fetch calls without reaching the host past the limit', async () => {
    const out = await renderJson(`Flotilla.serve(async () => {
      const ps = [];
      for (let i = 0; i < 5000; i++) ps.push(fetch('backend://api/burst').then((r) => r.status, (e) => e.message));
      const results = await Promise.all(ps);
      return Response.json({
        ok: results.filter((r) => r === 200).length,
        refused: results.filter((r) => /at most 50 sub-requests|already pending/.test(String(r))).length,
      });
    });`);
    expect(out).toEqual({ ok: 50, refused: 5000 - 50 });
    expect(api.hits).toHaveLength(50);
    expect(api.maxInFlight).toBeLessThanOrEqual(6);
  });
});

describe('backend fetch: per-render backends (an environment re-pointing its backends)', () => {
  /** Fetches backend://api/<path> and (by absolute URL) `?abs=<url>`; answers with where they went. */
  const WHERE = `Flotilla.serve(async (req) => {
    const abs = new URL(req.url).searchParams.get('abs');
    const named = await (await fetch('backend://api/who')).json();
    let direct = null;
    if (abs) direct = await fetch(abs).then((r) => r.status, (e) => e.message);
    return Response.json({ named: named.url, direct });
  });`;

  it('sends a render’s fetches to the origin it re-points a declared name to; other renders keep theirs', async () => {
    const staging = await backend();
    const iso = await loadBundle(WHERE, { backends: { api: api.origin } });
    const seen: string[] = [];
    const asStaging = await iso.render(request(), {
      backends: { api: staging.origin },
      onBackendRequest: (b, o) => seen.push(`${b} ${o}`),
    });
    expect(JSON.parse(text(asStaging.body))).toEqual({ named: '/who', direct: null });
    expect(staging.hits.map((h) => h.url)).toEqual(['/who']);
    expect(api.hits).toHaveLength(0);
    // The metric label stays the declared name.
    expect(seen).toEqual(['api 2xx']);
    // Without overrides: the declared origin.
    await iso.render(request());
    expect(api.hits.map((h) => h.url)).toEqual(['/who']);
    expect(staging.hits).toHaveLength(1);
  });

  it('keeps concurrent renders of one isolate on their own origins', async () => {
    const staging = await backend({
      '/who': (_req, res) => {
        setTimeout(() => res.end(JSON.stringify({ url: 'staging' })), 30);
      },
    });
    const prod = await backend({
      '/who': (_req, res) => {
        res.end(JSON.stringify({ url: 'production' }));
      },
    });
    const iso = await loadBundle(WHERE, { backends: { api: api.origin } });
    const pages = await Promise.all([
      iso.render(request(), { backends: { api: staging.origin } }),
      iso.render(request(), { backends: { api: prod.origin } }),
      iso.render(request(), { backends: { api: staging.origin } }),
    ]);
    expect(pages.map((p) => JSON.parse(text(p.body)).named)).toEqual([
      'staging',
      'production',
      'staging',
    ]);
    expect(staging.hits).toHaveLength(2);
    expect(prod.hits).toHaveLength(1);
    expect(api.hits).toHaveLength(0);
  });

  it('reaches only the re-pointed origin: the declared one is refused in that render, with the render’s origins named', async () => {
    const staging = await backend();
    const iso = await loadBundle(WHERE, { backends: { api: api.origin } });
    const res = await iso.render(request(`http://shop.test/?abs=${api.origin}/direct`), {
      backends: { api: staging.origin },
    });
    const out = JSON.parse(text(res.body));
    expect(out.direct).toContain(`fetch to ${api.origin}/direct refused`);
    expect(out.direct).toContain(`(declared: api → ${staging.origin})`);
    expect(api.hits).toHaveLength(0);
    // An absolute URL at the re-pointed origin is that backend, and a
    // redirect is followed only within the render's origins.
    const direct = await iso.render(request(`http://shop.test/?abs=${staging.origin}/direct`), {
      backends: { api: staging.origin },
    });
    expect(JSON.parse(text(direct.body)).direct).toBe(200);
  });

  it('follows redirects to the re-pointed origins only', async () => {
    const target = await backend();
    const redirecting = await backend({
      '/go': (_req, res) => {
        res.writeHead(302, { location: `${target.origin}/landed` });
        res.end();
      },
    });
    const code = `Flotilla.serve(async () => new Response(
      await fetch('backend://api/go').then((r) => String(r.status) + ' ' + r.url, (e) => e.message)));`;
    const iso = await loadBundle(code, { backends: { api: redirecting.origin, cms: api.origin } });
    // cms re-pointed to the redirect's target: followed.
    const followed = await iso.render(request(), { backends: { cms: target.origin } });
    expect(text(followed.body)).toBe(`200 ${target.origin}/landed`);
    // Not re-pointed: the target is no backend of this render.
    const refused = await iso.render(request());
    expect(text(refused.body)).toContain(`redirect from ${redirecting.origin}/go`);
    expect(text(refused.body)).toContain('refused');
    expect(target.hits).toHaveLength(1);
  });

  it('refuses an override of a name the deployment does not declare, clearly, before anything runs', async () => {
    const iso = await loadBundle(
      `let renders = 0; Flotilla.serve(() => new Response(String(++renders)));`,
      { backends: { api: api.origin, cms: 'https://cms.shop.example' } },
    );
    const err = await rejection(
      iso.render(request(), { backends: { api: api.origin, search: 'https://search.example' } }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect(err.message).toContain('option "backends.search"');
    expect(err.message).toContain('is not a backend of deployment d-test');
    expect(err.message).toContain('never add one');
    expect(err.message).toContain(`declared: api → ${api.origin}, cms → https://cms.shop.example`);
    // A deployment that declares none cannot be given one either.
    const bare = await loadBundle(`Flotilla.serve(() => new Response('x'));`, {
      deploymentId: 'd-bare',
    });
    const none = await rejection(bare.render(request(), { backends: { api: api.origin } }));
    expect(none.message).toContain('it declares none');
    // The refused renders never ran.
    expect(text((await iso.render(request())).body)).toBe('1');
  });

  it('validates re-pointed origins as declared ones, naming the bad entry (also when cached)', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response('x'));`, {
      backends: { api: api.origin },
    });
    const cases: Array<[unknown, string]> = [
      [{ api: 'ftp://x.test' }, 'backends.api'],
      [{ api: 'http://x.test/v1' }, 'backends.api'],
      [{ api: 'http://u:p@x.test' }, 'backends.api'],
      [{ api: 42 }, 'backends.api'],
      [['http://x.test'], 'backends'],
    ];
    for (const [backends, option] of cases) {
      for (let i = 0; i < 2; i++) {
        const err = await rejection(
          iso.render(request(), { backends: backends as Record<string, string> }),
        );
        expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
        expect(err.message).toContain(`option "${option}"`);
      }
    }
    // A good override normalizes like a declared one.
    const ok = await iso.render(request(), { backends: { api: `${api.origin.toUpperCase()}/` } });
    expect(ok.status).toBe(200);
  });
});
