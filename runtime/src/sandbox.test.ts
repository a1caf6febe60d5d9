import { afterEach, describe, expect, it } from 'vitest';
import type { GuestLogEntry } from './console-capture.ts';
import { disposeLoaded, HELLO, loadBundle, rejection, request, text } from './test-helpers.ts';

afterEach(() => disposeLoaded());

describe('rendering', () => {
  it('returns the status, headers and body of the Response the handler built', async () => {
    const iso = await loadBundle(HELLO);
    const res = await iso.render(request());
    expect(res.status).toBe(201);
    expect(res.headers).toEqual([
      ['content-type', 'text/html; charset=utf-8'],
      ['x-app', 'shop'],
    ]);
    expect(text(res.body)).toBe('<h1>Hello</h1>');
    expect(res.cpuMs).toBeGreaterThanOrEqual(0);
    expect(iso.renders).toBe(1);
  });

  it('renders with an async handler that awaits setTimeout', async () => {
    const iso = await loadBundle(`Flotilla.serve(async () => {
      const order = [];
      const wait = (ms, tag) => new Promise((r) => setTimeout(() => { order.push(tag); r(); }, ms));
      await Promise.all([wait(30, 'slow'), wait(1, 'fast')]);
      const cleared = setTimeout(() => order.push('cleared'), 0);
      clearTimeout(cleared);
      await wait(5, 'after');
      return new Response(order.join(','));
    });`);
    const res = await iso.render(request());
    expect(text(res.body)).toBe('fast,slow,after');
  });

  it.each([
    ['ASCII only', '<p>plain</p>'],
    ['Latin-1 (one-byte inside V8)', '<p>café · 12,00 £</p>'],
    ['past U+00FF and astral', '<p>€ — “ok” 😀 日本</p>'],
    ['a lone surrogate (replaced)', '<p>€ \ud800 x \udc00</p>'],
  ])(
    'returns a large body with %s as the same UTF-8 bytes as Node encodes it',
    async (_, piece) => {
      // JSON.stringify escapes lone surrogates: the bundle builds the very same string.
      const iso = await loadBundle(
        `Flotilla.serve(() => new Response('x'.repeat(3000) + ${JSON.stringify(piece)}.repeat(50) + 'end'));`,
      );
      const res = await iso.render(request());
      const expected = `${'x'.repeat(3000)}${piece.repeat(50)}end`;
      expect(Buffer.from(res.body).equals(Buffer.from(expected, 'utf8'))).toBe(true);
    },
  );

  it('accepts the { fetch } object form of Flotilla.serve', async () => {
    const iso = await loadBundle(`Flotilla.serve({
      greeting: 'hi from fetch',
      async fetch(req) { return new Response(this.greeting + ' ' + req.url); },
    });`);
    const res = await iso.render(request('http://shop.test/p/1'));
    expect(text(res.body)).toBe('hi from fetch http://shop.test/p/1');
  });

  it('hands the request method, url, headers and body to the handler', async () => {
    const iso = await loadBundle(`Flotilla.serve(async (req) => Response.json({
      method: req.method,
      url: req.url,
      accept: req.headers.get('Accept'),
      cookie: req.headers.get('cookie'),
      body: await req.json(),
    }));`);
    const res = await iso.render(
      request('http://shop.test/cart?x=1', {
        method: 'POST',
        headers: [
          ['accept', 'application/json'],
          ['cookie', 'a=1'],
          ['content-type', 'application/json'],
        ],
        body: new TextEncoder().encode(JSON.stringify({ sku: 'ü-42', qty: 2 })),
      }),
    );
    expect(res.headers).toContainEqual(['content-type', 'application/json']);
    expect(JSON.parse(text(res.body))).toEqual({
      method: 'POST',
      url: 'http://shop.test/cart?x=1',
      accept: 'application/json',
      cookie: 'a=1',
      body: { sku: 'ü-42', qty: 2 },
    });
  });

  it('passes a binary request body through unchanged (not decoded as text)', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async (req) => new Response(await req.bytes(), { headers: { 'content-type': 'application/octet-stream' } }));`,
    );
    const bytes = new Uint8Array([0, 0xff, 0xfe, 0x80, 0xc3, 0x28, 65]);
    const res = await iso.render(
      request('http://shop.test/upload', { method: 'PUT', body: bytes }),
    );
    expect([...res.body]).toEqual([...bytes]);
    // A view into a larger buffer (as from a socket) gives the view's bytes only.
    const pooled = new Uint8Array(4096).fill(0x2a);
    pooled.set(bytes, 100);
    const view = await iso.render(
      request('http://shop.test/upload', { method: 'PUT', body: pooled.subarray(100, 107) }),
    );
    expect([...view.body]).toEqual([...bytes]);
  });

  it('sends a Uint8Array, ArrayBuffer or other typed-array body as bytes', async () => {
    const iso = await loadBundle(`Flotilla.serve((req) => {
      const kind = URL_PATH(req.url);
      const src = new Uint8Array([10, 20, 30, 40, 50]);
      if (kind === 'u8') return new Response(src);
      if (kind === 'view') return new Response(src.subarray(1, 3));
      if (kind === 'ab') return new Response(src.buffer);
      return new Response(new Int8Array([72, 105]));
    });
    function URL_PATH(url) { return url.slice(url.lastIndexOf('/') + 1); }`);
    expect([...(await iso.render(request('http://x/u8'))).body]).toEqual([10, 20, 30, 40, 50]);
    expect([...(await iso.render(request('http://x/view'))).body]).toEqual([20, 30]);
    expect([...(await iso.render(request('http://x/ab'))).body]).toEqual([10, 20, 30, 40, 50]);
    expect(text((await iso.render(request('http://x/int8'))).body)).toBe('Hi');
  });

  it('renders concurrent requests in one isolate', async () => {
    const iso = await loadBundle(`Flotilla.serve(async (req) => {
      const n = Number(req.url.split('/').pop());
      await new Promise((r) => setTimeout(r, 20 - n * 3));
      return new Response('page ' + n);
    });`);
    const pages = await Promise.all(
      [0, 1, 2, 3, 4].map((n) => iso.render(request(`http://shop.test/${n}`))),
    );
    expect(pages.map((p) => text(p.body))).toEqual([
      'page 0',
      'page 1',
      'page 2',
      'page 3',
      'page 4',
    ]);
    expect(iso.renders).toBe(5);
  });

  it('fires a setTimeout the bundle set while loading', async () => {
    const iso = await loadBundle(`let ready = 'no';
      setTimeout(() => { ready = 'yes'; }, 0);
      Flotilla.serve(async () => {
        await new Promise((r) => setTimeout(r, 20));
        return new Response(ready);
      });`);
    expect(text((await iso.render(request())).body)).toBe('yes');
  });
});

describe('console', () => {
  it('sends console output to the log option with the deployment and request ids', async () => {
    const lines: GuestLogEntry[] = [];
    const iso = await loadBundle(
      `console.info('booting');
      Flotilla.serve(async (req) => {
        console.log('render', req.url, { n: 1 }, [2], undefined, 3n);
        await new Promise((r) => setTimeout(r, 1));
        console.warn('after await');
        console.error(new TypeError('bad thing'));
        return new Response('ok');
      });`,
      { deploymentId: 'd-console', log: (e) => lines.push(e) },
    );
    await iso.render(request('http://shop.test/a'), { requestId: 'req-1' });
    await new Promise((r) => setTimeout(r, 20)); // log callbacks reach the host asynchronously
    expect(lines).toEqual([
      { level: 'info', message: 'booting', deploymentId: 'd-console', requestId: undefined },
      {
        level: 'log',
        message: 'render http://shop.test/a {"n":1} [2] undefined 3',
        deploymentId: 'd-console',
        requestId: 'req-1',
      },
      { level: 'warn', message: 'after await', deploymentId: 'd-console', requestId: 'req-1' },
      {
        level: 'error',
        message: 'TypeError: bad thing',
        deploymentId: 'd-console',
        requestId: 'req-1',
      },
    ]);
  });

  it('keeps each log line with its own request when renders interleave', async () => {
    const lines: GuestLogEntry[] = [];
    const iso = await loadBundle(
      `Flotilla.serve(async (req) => {
        const n = req.url.split('/').pop();
        console.log('start ' + n);
        await new Promise((r) => setTimeout(r, 10 - Number(n) * 2));
        console.log('end ' + n);
        return new Response('ok');
      });`,
      { log: (e) => lines.push(e) },
    );
    await Promise.all(
      [1, 2, 3].map((n) => iso.render(request(`http://shop.test/${n}`), { requestId: `req-${n}` })),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(lines).toHaveLength(6);
    for (const line of lines) {
      expect(line.requestId).toBe(`req-${line.message.split(' ')[1]}`);
    }
  });

  it('logs an exception thrown in a setTimeout callback and goes on rendering', async () => {
    const lines: GuestLogEntry[] = [];
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        setTimeout(() => { throw new Error('timer blew up'); }, 0);
        await new Promise((r) => setTimeout(r, 10));
        return new Response('still fine');
      });`,
      { log: (e) => lines.push(e) },
    );
    const res = await iso.render(request(), { requestId: 'req-t' });
    expect(text(res.body)).toBe('still fine');
    await new Promise((r) => setTimeout(r, 20));
    expect(lines).toContainEqual({
      level: 'error',
      message: 'Uncaught exception in setTimeout callback: Error: timer blew up',
      deploymentId: 'd-test',
      requestId: 'req-t',
    });
  });
});

describe('host protection', () => {
  it('drops console output over budget so a logging loop cannot fill the host memory', async () => {
    const lines: GuestLogEntry[] = [];
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        const line = 'x'.repeat(8000);
        for (let i = 0; i < 2000; i++) console.log(line); // 16 MB
        await new Promise((r) => setTimeout(r, 20));
        console.log('done');
        return new Response('ok');
      });`,
      { log: (e) => lines.push(e) },
    );
    expect(text((await iso.render(request())).body)).toBe('ok');
    await new Promise((r) => setTimeout(r, 20));
    const received = lines.reduce((n, l) => n + l.message.length, 0);
    expect(received).toBeGreaterThan(500_000);
    expect(received).toBeLessThan(4_000_000); // of 16 MB logged
    const notice = lines.find((l) => l.message.includes('dropped'));
    expect(notice?.message).toMatch(/^\[flotilla\] \d+ console line\(s\) dropped/);
    expect(lines.at(-1)?.message).toBe('done');
  });

  it('caps the timers alive at once', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => {
      for (let i = 0; i < 10_001; i++) setTimeout(() => {}, 1000);
      return new Response('unreachable');
    });`);
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_RENDER');
    expect(err.message).toContain('RangeError: setTimeout: more than 10000 timers pending');
  });

  it('caps the rate of setTimeout/clearTimeout calls; cleared timers free their slot', async () => {
    const iso = await loadBundle(`Flotilla.serve((req) => {
      const n = Number(req.url.split('/').pop());
      for (let i = 0; i < n; i++) clearTimeout(setTimeout(() => {}, 1000));
      return new Response('ok');
    });`);
    // 4000 set + 4000 clear calls: within the burst, and no slot stays taken.
    expect(text((await iso.render(request('http://x/4000'))).body)).toBe('ok');
    const err = await rejection(iso.render(request('http://x/1000000')));
    expect(err.message).toContain('RangeError: setTimeout: called more than 10000 times a second');
  });
});

describe('render errors', () => {
  it('turns a thrown Error into FLOTILLA_ERR_RENDER with its message; the isolate stays usable', async () => {
    const iso = await loadBundle(`Flotilla.serve((req) => {
      if (req.url.endsWith('/boom')) throw new RangeError('product 42 has no price');
      return new Response('ok');
    });`);
    const err = await rejection(iso.render(request('http://x/boom')));
    expect(err.code).toBe('FLOTILLA_ERR_RENDER');
    expect(err.message).toContain('RangeError: product 42 has no price');
    expect(text((await iso.render(request('http://x/fine'))).body)).toBe('ok');
  });

  it.each([
    ['a string', `'plain string'`, 'plain string'],
    ['an object', `{ status: 'bad' }`, '{"status":"bad"}'],
    ['null', 'null', 'null'],
    ['undefined', 'undefined', 'non-Error thrown'],
    ['an object with a throwing toJSON', `{ toJSON() { throw 1; } }`, 'non-Error thrown'],
  ])('turns a thrown non-Error (%s) into FLOTILLA_ERR_RENDER', async (_, thrown, shown) => {
    const iso = await loadBundle(`Flotilla.serve(async () => { throw ${thrown}; });`);
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_RENDER');
    expect(err.message).toContain(shown);
  });

  it.each([
    ['a string', `'<h1>hi</h1>'`, 'string'],
    ['undefined', 'undefined', 'undefined'],
    ['null', 'null', 'null'],
    ['a look-alike object', `({ status: 200, headers: {}, body: 'x' })`, 'object'],
  ])(
    'fails a handler that returns %s instead of a Response with FLOTILLA_ERR_RENDER',
    async (_, value, shown) => {
      const iso = await loadBundle(`Flotilla.serve(() => ${value});`);
      const err = await rejection(iso.render(request()));
      expect(err.code).toBe('FLOTILLA_ERR_RENDER');
      expect(err.message).toContain(`returned ${shown}, not a Response`);
    },
  );

  it.each([
    [
      'a status out of range',
      `Object.defineProperty(res, 'status', { value: 1000 });`,
      'status 1000',
    ],
    [
      'a header with a line break',
      `res.headers.toList = () => [['x-evil', 'a\\r\\nset-cookie: stolen=1']];`,
      'invalid header',
    ],
    ['a non-list of headers', `res.headers.toList = () => 'nope';`, 'headers'],
    [
      'a body that is neither text nor bytes',
      `res.toParts = () => ({ text: { big: 1 }, bytes: null });`,
      'body',
    ],
  ])('fails a tampered Response with %s with FLOTILLA_ERR_RENDER', async (_, tamper, shown) => {
    const iso = await loadBundle(
      `Flotilla.serve(() => { const res = new Response('x'); ${tamper} return res; });`,
    );
    const err = await rejection(iso.render(request()));
    expect(err.code).toBe('FLOTILLA_ERR_RENDER');
    expect(err.message).toContain('invalid response');
    expect(err.message).toContain(shown);
  });
});

describe('isolation', () => {
  it('gives the bundle no process, require, Buffer or other Node globals', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => {
      let viaFunction;
      try { viaFunction = typeof Function('return process')(); } catch (e) { viaFunction = e.name; }
      return Response.json({
        process: typeof process,
        require: typeof require,
        Buffer: typeof Buffer,
        module: typeof module,
        global: typeof global,
        setImmediate: typeof setImmediate,
        fetch: typeof fetch,
        viaFunction,
        viaConstructor: (() => { try { return typeof this.constructor.constructor('return process')(); } catch (e) { return e.name; } })(),
      });
    });`);
    expect(JSON.parse(text((await iso.render(request())).body))).toEqual({
      process: 'undefined',
      require: 'undefined',
      Buffer: 'undefined',
      module: 'undefined',
      global: 'undefined',
      setImmediate: 'undefined',
      fetch: 'function', // the bridged backend fetch (backend-fetch.test.ts)
      viaFunction: 'ReferenceError',
      viaConstructor: 'ReferenceError',
    });
  });

  it('does not let the bundle replace Flotilla.serve or hijack the handler later', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response('original'));
      try { Flotilla.serve = () => {}; } catch {}
      globalThis.Flotilla = { serve() {} };
      let second;
      try { Flotilla.serve(() => new Response('hijacked')); second = 'accepted'; } catch (e) { second = e.message; }
      globalThis.result = second;`);
    expect(text((await iso.render(request())).body)).toBe('original');
  });

  it('keeps the handler when the bundle overwrites the global Response', async () => {
    const iso = await loadBundle(`const R = Response;
      Flotilla.serve(() => new R('real'));
      globalThis.Response = function Fake() {};`);
    expect(text((await iso.render(request())).body)).toBe('real');
  });

  it('runs each deployment in its own isolate: globals do not leak between them', async () => {
    const a = await loadBundle(
      `globalThis.secret = 'from-a'; Flotilla.serve(() => new Response('a'));`,
      {
        deploymentId: 'd-a',
      },
    );
    const b = await loadBundle(`Flotilla.serve(() => new Response(String(globalThis.secret)));`, {
      deploymentId: 'd-b',
    });
    await a.render(request());
    expect(text((await b.render(request())).body)).toBe('undefined');
  });
});

describe('lifecycle', () => {
  it('retire() lets a render in flight finish, then disposes the isolate', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => { await new Promise((r) => setTimeout(r, 50)); return new Response('finished'); });`,
    );
    const inFlight = iso.render(request());
    await new Promise((r) => setTimeout(r, 5));
    expect(iso.inFlight).toBe(1);
    iso.retire();
    expect(text((await inFlight).body)).toBe('finished');
    expect(iso.disposed).toBe(true);
  });

  it('dispose() fails the renders still running and is idempotent', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Promise(() => {}));`);
    const pending = rejection(iso.render(request()));
    await new Promise((r) => setTimeout(r, 5));
    iso.dispose();
    iso.dispose();
    const err = await pending;
    expect(err.code).toBe('FLOTILLA_ERR_INTERNAL');
    expect(err.message).toContain('shut down');
    expect(iso.heapUsed()).toBe(0);
  });

  it('reports the heap the isolate uses', async () => {
    const iso = await loadBundle(
      `const keep = new Array(100000).fill('x'); Flotilla.serve(() => new Response(String(keep.length)));`,
    );
    expect(iso.heapUsed()).toBeGreaterThan(100_000);
  });
});

describe('environment variables (env)', () => {
  /** Answers with what the handler got as its second argument. */
  const SHOW_ENV = `Flotilla.serve(function (req, env) {
    return Response.json({
      env,
      frozen: Object.isFrozen(env),
      plain: Object.getPrototypeOf(env) === Object.prototype,
      args: arguments.length,
    });
  });`;

  it('hands env to the handler as its second argument, a frozen plain object of strings', async () => {
    const iso = await loadBundle(SHOW_ENV);
    const res = await iso.render(request(), { env: { API_KEY: 'k-123', REGION: 'eu' } });
    expect(JSON.parse(text(res.body))).toEqual({
      env: { API_KEY: 'k-123', REGION: 'eu' },
      frozen: true,
      plain: true,
      args: 2,
    });
  });

  it('hands env to the fetch method of the { fetch } object form, with this bound', async () => {
    const iso = await loadBundle(`Flotilla.serve({
      prefix: 'key=',
      fetch(req, env) { return new Response(this.prefix + env.API_KEY); },
    });`);
    const res = await iso.render(request(), { env: { API_KEY: 'k-9' } });
    expect(text(res.body)).toBe('key=k-9');
  });

  it('gives an empty frozen object when the render has no env', async () => {
    const iso = await loadBundle(SHOW_ENV);
    for (const env of [undefined, {}]) {
      const res = await iso.render(request(), env === undefined ? {} : { env });
      expect(JSON.parse(text(res.body))).toEqual({ env: {}, frozen: true, plain: true, args: 2 });
    }
  });

  it('refuses changes to env: assignments, deletions and new keys fail or do nothing', async () => {
    const iso = await loadBundle(`Flotilla.serve((req, env) => {
      const tries = {};
      const attempt = (name, f) => { try { f(); tries[name] = 'allowed'; } catch (e) { tries[name] = e.name; } };
      attempt('assign', () => { 'use strict'; env.API_KEY = 'changed'; });
      attempt('add', () => { 'use strict'; env.NEW = 'x'; });
      attempt('delete', () => { 'use strict'; delete env.API_KEY; });
      attempt('define', () => Object.defineProperty(env, 'API_KEY', { value: 'changed' }));
      attempt('proto', () => Object.setPrototypeOf(env, { API_KEY: 'changed' }));
      return Response.json({ tries, env });
    });`);
    const out = JSON.parse(text((await iso.render(request(), { env: { API_KEY: 'k' } })).body));
    expect(out.tries).toEqual({
      assign: 'TypeError',
      add: 'TypeError',
      delete: 'TypeError',
      define: 'TypeError',
      proto: 'TypeError',
    });
    expect(out.env).toEqual({ API_KEY: 'k' });
  });

  it('gives each render its own env object: one kept from an earlier render is unchanged and distinct', async () => {
    const iso = await loadBundle(`let previous;
      Flotilla.serve((req, env) => {
        const out = { env, sameObject: previous === env, previous: previous ?? null };
        previous = env;
        return Response.json(out);
      });`);
    const first = JSON.parse(text((await iso.render(request(), { env: { STAGE: 'a' } })).body));
    expect(first).toEqual({ env: { STAGE: 'a' }, sameObject: false, previous: null });
    const second = JSON.parse(text((await iso.render(request(), { env: { STAGE: 'b' } })).body));
    expect(second).toEqual({ env: { STAGE: 'b' }, sameObject: false, previous: { STAGE: 'a' } });
    // No env is a fresh empty object as well, not one shared by renders.
    const third = JSON.parse(text((await iso.render(request())).body));
    expect(third).toEqual({ env: {}, sameObject: false, previous: { STAGE: 'b' } });
    const fourth = JSON.parse(text((await iso.render(request())).body));
    expect(fourth.sameObject).toBe(false);
  });

  it('keeps each render with its own env when renders interleave, and on the synchronous path', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async (req, env) => {
      const before = env.STAGE;
      const ms = Number(new URL(req.url).searchParams.get('wait'));
      if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      return new Response(before + '/' + env.STAGE);
    });`,
      // Its own id: earlier tests' CPU loops keep d-test off the synchronous path on this thread.
      { deploymentId: 'd-env-sync' },
    );
    const pages = await Promise.all(
      ['a', 'b', 'c', 'd'].map((stage, i) =>
        iso.render(request(`http://shop.test/?wait=${(4 - i) * 5}`), { env: { STAGE: stage } }),
      ),
    );
    expect(pages.map((p) => text(p.body))).toEqual(['a/a', 'b/b', 'c/c', 'd/d']);
    // Warm and short: after a few renders they complete synchronously, each with its own env.
    const stages = Array.from({ length: 40 }, (_, i) => `s${i}`);
    const sync = [];
    for (const stage of stages) {
      sync.push(text((await iso.render(request(), { env: { STAGE: stage } })).body));
    }
    expect(sync).toEqual(stages.map((stage) => `${stage}/${stage}`));
    expect(iso.syncRenders).toBeGreaterThan(0);
  });

  it('builds env with its own builtins: patched Object.freeze, Object.prototype setters and odd names change nothing', async () => {
    const iso = await loadBundle(`
      const seen = [];
      Reflect.defineProperty(Object.prototype, 'SECRET', {
        get() { return 'from the prototype'; },
        set(v) { seen.push(v); },
        configurable: true,
      });
      Object.freeze = (o) => o;
      Object.defineProperty = () => { throw new Error('patched defineProperty'); };
      Object.create = () => ({ get() { return 'accessor'; } });
      Flotilla.serve((req, env) => Response.json({
        frozen: Object.isFrozen(env),
        keys: Object.keys(env),
        own: Object.getOwnPropertyNames(env).map((k) => [k, typeof Object.getOwnPropertyDescriptor(env, k).value]),
        secret: env.SECRET,
        proto: Object.getPrototypeOf(env) === Object.prototype,
        seen,
      }));`);
    const res = await iso.render(request(), {
      // JSON.parse: a literal `__proto__:` would set the prototype, not a key.
      env: JSON.parse('{"SECRET":"s3","__proto__":"not a prototype","constructor":"c","get":"g"}'),
    });
    expect(JSON.parse(text(res.body))).toEqual({
      frozen: true,
      keys: ['SECRET', '__proto__', 'constructor', 'get'],
      own: [
        ['SECRET', 'string'],
        ['__proto__', 'string'],
        ['constructor', 'string'],
        ['get', 'string'],
      ],
      secret: 's3',
      proto: true,
      seen: [],
    });
  });

  it('refuses an env that is not an object of strings, naming the variable but never its value', async () => {
    const iso = await loadBundle(HELLO);
    const cases: Array<[unknown, string]> = [
      [{ API_KEY: 42 }, 'env.API_KEY'],
      [{ OK: 'fine', TOKEN: null }, 'env.TOKEN'],
      [{ NESTED: { secret: 'hunter2' } }, 'env.NESTED'],
      [['A=1'], 'env'],
      ['A=1', 'env'],
      [{ '': 'x' }, 'env'],
    ];
    for (const [env, option] of cases) {
      const err = await rejection(
        iso.render(request(), { env: env as unknown as Record<string, string> }),
      );
      expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(err.message).toContain(`option "${option}"`);
      expect(err.message).not.toContain('hunter2');
    }
    // Nothing ran, and the isolate still renders.
    expect(text((await iso.render(request())).body)).toBe('<h1>Hello</h1>');
  });

  it('never leaves env on a global: during and after a render, no global reaches its values', async () => {
    // Walks everything reachable from globalThis (own properties, prototypes,
    // getters not called) looking for the secret value.
    const iso = await loadBundle(`
      const find = (secret) => {
        const seen = new Set();
        const found = [];
        const walk = (value, path, depth) => {
          if (value === secret) found.push(path);
          if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
          if (seen.has(value) || depth > 6) return;
          seen.add(value);
          walk(Object.getPrototypeOf(value), path + '.[[proto]]', depth + 1);
          for (const key of Reflect.ownKeys(value)) {
            const d = Object.getOwnPropertyDescriptor(value, key);
            if (d && 'value' in d) walk(d.value, path + '.' + String(key), depth + 1);
          }
        };
        walk(globalThis, 'globalThis', 0);
        return found;
      };
      Flotilla.serve(async (req, env) => {
        const secret = new URL(req.url).searchParams.get('look');
        const during = find(secret);
        await new Promise((r) => setTimeout(r, 1));
        return Response.json({ during, afterAwait: find(secret), mine: env.SECRET ?? null });
      });`);
    const first = JSON.parse(
      text(
        (await iso.render(request('http://shop.test/?look=s-1'), { env: { SECRET: 's-1' } })).body,
      ),
    );
    expect(first).toEqual({ during: [], afterAwait: [], mine: 's-1' });
    const later = JSON.parse(text((await iso.render(request('http://shop.test/?look=s-1'))).body));
    expect(later).toEqual({ during: [], afterAwait: [], mine: null });
  });
});
