/**
 * `Flotilla.AsyncLocalStorage` in the guest: the API (as Node's), the context
 * carried through promises, timers, microtasks, async generators and backend
 * fetches, and renders interleaving in one isolate, each seeing only its own
 * store. Bundles are lowered as `flotilla build` lowers a bundle that imports
 * `node:async_hooks` ({@link lowerAsync}).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuestLogEntry } from './console-capture.ts';
import type { DeploymentIsolate } from './sandbox.ts';
import { disposeLoaded, loadBundle, lowerAsync, request, text } from './test-helpers.ts';

/** Cases run one per render (`/unit?case=name`), each answering with what it saw. */
const UNIT = `
const als = new Flotilla.AsyncLocalStorage();
const named = new Flotilla.AsyncLocalStorage({ name: 'named', defaultValue: 'dflt' });
const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));
const id = () => als.getStore()?.id ?? null;
async function* counter() { await tick(); yield id(); await Promise.resolve(); yield id(); }
const cases = {
  outside: () => [als.getStore(), named.getStore(), named.name],
  sync: () => als.run({ id: 's' }, () => [id(), named.getStore()]),
  nested: () => als.run({ id: 'outer' }, () => [id(), als.run({ id: 'inner' }, () => id()), id(), als.exit(() => id())]),
  args: () => als.run({ id: 'a' }, (x, y) => [id(), x + y], 2, 3),
  afterRun: () => { als.run({ id: 'x' }, () => {}); return [id()]; },
  throws: () => { try { als.run({ id: 't' }, () => { throw new Error('no'); }); } catch {} return [id()]; },
  awaits: () => als.run({ id: 'aw' }, async () => {
    const seen = [id()];
    await Promise.resolve(); seen.push(id());
    await tick(); seen.push(id());
    await new Promise((r) => queueMicrotask(r)); seen.push(id());
    await new Promise((r) => queueMicrotask(() => { seen.push(id()); r(); }));
    await Promise.all([tick(2).then(() => seen.push(id())), Promise.race([tick(1)]).then(() => seen.push(id()))]);
    await Promise.allSettled([Promise.reject(new Error('x')).catch(() => seen.push(id()))]);
    await tick().finally(() => seen.push(id()));
    await { then(resolve) { resolve(1); } }; seen.push(id());
    for await (const v of counter()) seen.push(v);
    return seen;
  }),
  parallel: () => Promise.all([1, 2, 3].map((n) => als.run({ id: 'p' + n }, async () => {
    await tick(4 - n); const a = id(); await tick(n); return [a, id()];
  }))),
  interval: () => als.run({ id: 'iv' }, () => new Promise((resolve) => {
    const seen = []; let n = 0;
    const h = setInterval(() => { seen.push(id()); if (++n === 3) { clearInterval(h); resolve(seen); } }, 1);
  })),
  timerArgs: () => als.run({ id: 'ta' }, () => new Promise((r) => setTimeout((a, b) => r([id(), a, b]), 1, 'x', 'y'))),
  enterWith: () => als.run({ id: 'outer' }, async () => {
    const seen = [];
    await (async () => { await tick(); als.enterWith({ id: 'entered' }); seen.push(id()); await tick(); seen.push(id()); })();
    seen.push(id());
    return seen;
  }),
  disable: () => als.run({ id: 'd' }, () => { als.disable(); const off = id(); return als.run({ id: 'e' }, () => [off, id()]); }),
  bind: () => {
    const bound = als.run({ id: 'b' }, () => Flotilla.AsyncLocalStorage.bind(function (x) { return [id(), this.k, x]; }));
    const snap = als.run({ id: 'snap' }, () => Flotilla.AsyncLocalStorage.snapshot());
    return als.run({ id: 'other' }, () => [bound.call({ k: 'this' }, 1), snap((a) => [id(), a], 2), id()]);
  },
  abortListener: () => als.run({ id: 'ab' }, () => {
    const c = new AbortController();
    const seen = [];
    c.signal.addEventListener('abort', () => seen.push(id()));
    als.run({ id: 'aborter' }, () => c.abort());
    return seen;
  }),
  streams: () => als.run({ id: 'st' }, async () => {
    const seen = [];
    let n = 0;
    const rs = new ReadableStream({ async pull(c) { await tick(); seen.push('pull:' + id()); if (++n > 2) c.close(); else c.enqueue(n); } });
    const reader = rs.getReader();
    while (!(await reader.read()).done) seen.push('read:' + id());
    await new Response('body').text(); seen.push('text:' + id());
    for await (const _ of new ReadableStream({ start(c) { c.enqueue(1); c.close(); } })) seen.push('iter:' + id());
    return seen;
  }),
  thenShape: () => [Promise.prototype.then.name, Promise.prototype.then.length, Flotilla.AsyncLocalStorage.name],
  badOptions: () => { try { new Flotilla.AsyncLocalStorage(5); return 'accepted'; } catch (e) { return e.name; } },
  badRun: () => { try { als.run({}, 5); return 'accepted'; } catch (e) { return e.name; } },
  brand: () => { try { Flotilla.AsyncLocalStorage.prototype.getStore.call({}); return 'read'; } catch (e) { return e.name; } },
  // Code the build does not lower (eval): a native await loses the context (to the root, never
  // to another store), and enterWith there is refused.
  native: () => als.run({ id: 'n' }, () => (0, eval)('(async (read, als) => { const a = read(); await null; let e = "ok"; try { als.enterWith({ id: "z" }); } catch (err) { e = err.message.slice(0, 33); } return [a, read(), e]; })')(id, als)),
};
Flotilla.serve(async (req) => {
  const name = new URL(req.url).searchParams.get('case');
  return Response.json(await cases[name]());
});`;

let unit: DeploymentIsolate;
const run = async (name: string): Promise<unknown> =>
  JSON.parse(text((await unit.render(request(`http://shop.test/unit?case=${name}`))).body));

beforeAll(async () => {
  unit = await loadBundle(lowerAsync(UNIT), { deploymentId: 'als-unit' });
});

describe('Flotilla.AsyncLocalStorage: the API', () => {
  it('has no store outside run (or its default value) and its name', async () => {
    expect(await run('outside')).toEqual([null, 'dflt', 'named']);
  });
  it('run sets the store for its function only, nested runs and exit', async () => {
    expect(await run('sync')).toEqual(['s', 'dflt']);
    expect(await run('nested')).toEqual(['outer', 'inner', 'outer', null]);
    expect(await run('args')).toEqual(['a', 5]);
    expect(await run('afterRun')).toEqual([null]);
    expect(await run('throws')).toEqual([null]);
  });
  it('enterWith lasts for the rest of its callback and what it queues, not past it', async () => {
    expect(await run('enterWith')).toEqual(['entered', 'entered', 'outer']);
  });
  it('disable hides the store until the next run', async () => {
    expect(await run('disable')).toEqual([null, 'e']);
  });
  it('bind and snapshot run in the context they were made in', async () => {
    expect(await run('bind')).toEqual([['b', 'this', 1], ['snap', 2], 'other']);
  });
  it('refuses bad arguments, and its methods only work on its instances', async () => {
    expect(await run('badOptions')).toBe('TypeError');
    expect(await run('badRun')).toBe('TypeError');
    expect(await run('brand')).toBe('TypeError');
    expect(await run('thenShape')).toEqual(['then', 2, 'AsyncLocalStorage']);
  });
});

describe('Flotilla.AsyncLocalStorage: the context across async steps', () => {
  it('survives awaits of promises, timers, microtasks, Promise.all/race/allSettled, finally, thenables and async generators', async () => {
    expect(await run('awaits')).toEqual(Array(12).fill('aw'));
  });
  it('carries through the promises of streams (a pull that awaits, reads, body text, async iteration)', async () => {
    expect(await run('streams')).toEqual([
      'pull:st',
      'read:st',
      'pull:st',
      'read:st',
      'pull:st',
      'text:st',
      'iter:st',
    ]);
  });
  it('keeps parallel runs of one render apart', async () => {
    expect(await run('parallel')).toEqual([
      ['p1', 'p1'],
      ['p2', 'p2'],
      ['p3', 'p3'],
    ]);
  });
  it('carries into setInterval and setTimeout callbacks (with their arguments)', async () => {
    expect(await run('interval')).toEqual(['iv', 'iv', 'iv']);
    expect(await run('timerArgs')).toEqual(['ta', 'x', 'y']);
  });
  it('runs abort listeners in the context of the code that aborts, as Node does', async () => {
    expect(await run('abortListener')).toEqual(['aborter']);
  });
  it('loses the context after a native await (code not lowered) to no store, and refuses enterWith there', async () => {
    expect(await run('native')).toEqual(['n', null, 'AsyncLocalStorage.enterWith: no a']);
  });
});

/**
 * Each `/r?id=…` render runs in a store of its own and reports the store it
 * sees after every kind of wait: backend fetches (answered in an order other
 * than the renders started), timers, Promise.all, a promise another render
 * settles, an async generator.
 */
const INTERLEAVE = `
const als = new Flotilla.AsyncLocalStorage();
const batches = new Map();
async function* pages(ms) { await fetch('backend://api/wait?ms=' + ms); yield 1; await new Promise((r) => setTimeout(r, ms)); yield 2; }
Flotilla.serve((req) => {
  const q = new URL(req.url).searchParams;
  const me = q.get('id');
  const ms = Number(q.get('ms'));
  return als.run({ me }, async () => {
    const seen = [];
    const check = (where) => seen.push(where + ':' + (als.getStore()?.me ?? 'none'));
    check('start');
    await fetch('backend://api/wait?ms=' + ms);
    check('fetch');
    await new Promise((r) => setTimeout(r, ms));
    check('timer');
    await Promise.all([
      fetch('backend://api/wait?ms=' + (40 - ms)).then(() => check('all.fetch')),
      new Promise((r) => setTimeout(() => { check('all.timer'); r(); }, ms)),
    ]);
    check('all');
    if (q.get('shared') === '1') {
      // The first render of the batch makes the promise; its own timer settles it for all.
      let shared = batches.get(q.get('batch'));
      if (!shared) { shared = new Promise((r) => setTimeout(r, 60)); batches.set(q.get('batch'), shared); }
      await shared;
      check('shared');
      console.log('after shared: ' + me);
    }
    for await (const _ of pages(ms)) check('gen');
    return Response.json(seen);
  });
});`;

describe('renders interleaving in one isolate', () => {
  let server: Server;
  let origin: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms')) || 0;
      setTimeout(() => res.end('ok'), ms);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    disposeLoaded();
    await new Promise((resolve) => server.close(resolve));
  });

  const renderAll = (iso: DeploymentIsolate, batch: string, n: number, shared: boolean) =>
    Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const me = `r${i}`;
        // Later renders wait less: their answers overtake the earlier renders'.
        const ms = 30 - i * Math.floor(25 / n);
        const res = await iso.render(
          request(`http://shop.test/r?id=${me}&ms=${ms}&batch=${batch}&shared=${shared ? 1 : 0}`),
          { requestId: `${batch}-${me}` },
        );
        return { me, seen: JSON.parse(text(res.body)) as string[] };
      }),
    );

  it('gives each of 6 concurrent renders only its own store after every await', async () => {
    const lines: GuestLogEntry[] = [];
    const iso = await loadBundle(lowerAsync(INTERLEAVE), {
      deploymentId: 'als-interleave',
      backends: { api: origin },
      log: (entry) => lines.push(entry),
    });
    const results = await renderAll(iso, 'b1', 6, true);
    // Code another render's timer resumed (the shared promise) ran as its own render.
    await expect.poll(() => lines.length, { timeout: 20_000 }).toBe(6);
    for (const line of lines) {
      expect(`b1-${line.message.slice('after shared: '.length)}`).toBe(line.requestId);
    }
    const steps = [
      'start',
      'fetch',
      'timer',
      'all.fetch',
      'all.timer',
      'all',
      'shared',
      'gen',
      'gen',
    ];
    for (const { me, seen } of results) {
      // (all.fetch and all.timer come in either order.)
      expect(seen.map((s) => s.split(':')[0]).sort()).toEqual([...steps].sort());
      expect(seen.map((s) => s.split(':')[1])).toEqual(steps.map(() => me));
    }
  }, 60_000);

  it('without the lowering, loses the store after the first await, to none (never another render’s)', async () => {
    const iso = await loadBundle(INTERLEAVE, {
      deploymentId: 'als-native',
      backends: { api: origin },
    });
    // (No shared promise: code another render resumes would run as that render, and its
    // fetches and timers end with it.)
    for (const { me, seen } of await renderAll(iso, 'b2', 4, false)) {
      expect(seen[0]).toBe(`start:${me}`);
      for (const line of seen.slice(1)) expect(line).toMatch(/:none$/);
    }
  }, 60_000);
});

afterAll(() => disposeLoaded());
