/**
 * AsyncLocalStorage stores must never cross renders. Renders of one
 * deployment interleave in one isolate, so a bundle can keep anything the
 * API hands out (snapshots, bound functions, callbacks queued on shared
 * promises) in module state and use it from another render. What the
 * runtime restores must stay within the render it belongs to:
 *
 * - a render reads only its own stores, after every kind of wait, even when
 *   another render's I/O resumes it (a shared promise);
 * - a `snapshot()` or `bind()` made in one render, called from another
 *   render's code, runs with no store;
 * - once a render answered, nothing made in it reads its stores again;
 * - where the context is lost (code the build did not lower), code gets no
 *   store, never the store of whatever render ran last;
 * - nothing reachable from the bundle's realm holds another render's store.
 *
 * The bundle is lowered as `flotilla build` lowers one that imports
 * `node:async_hooks`.
 */
import { createHash } from 'node:crypto';
import { DeploymentIsolate } from '@flotilla/runtime';
import { lowerForAsyncContext } from '@flotilla/sdk/build';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `/hold?id=` runs in a store `{ secret: 'secret-<id>' }`, stashes a snapshot,
 * a bound function and callbacks on module-level promises, then waits until
 * `/release` (or 5 s). `/probe?id=` runs in its own store and tries every
 * stashed path, plus a walk of everything reachable from the realm. `/late`
 * tries the paths again after the holders ended.
 */
const SOURCE = `
const als = new Flotilla.AsyncLocalStorage();
const ALS = Flotilla.AsyncLocalStorage;
const stash = { snapshots: [], bound: [], seenByHolder: [], leftover: [] };
let release = () => {};
let released = new Promise((r) => { release = r; });
let gateOpen = () => {};
const gate = new Promise((r) => { gateOpen = r; });
let laterOpen = () => {};
const later = new Promise((r) => { laterOpen = r; });
const secretOf = () => als.getStore()?.secret ?? null;

const hunt = () => {
  const seen = new Set();
  const found = new Set();
  const walk = (value, depth) => {
    if (typeof value === 'string') { if (value.startsWith('secret-')) found.add(value); return; }
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
    if (seen.has(value) || depth > 8 || value === stash) return;
    seen.add(value);
    let keys = [];
    try { walk(Object.getPrototypeOf(value), depth + 1); keys = Reflect.ownKeys(value); } catch { return; }
    for (const key of keys) {
      let d;
      try { d = Object.getOwnPropertyDescriptor(value, key); } catch { continue; }
      if (d && 'value' in d) walk(d.value, depth + 1);
    }
  };
  walk(globalThis, 0);
  walk(als, 0);
  walk(ALS, 0);
  walk(Promise.prototype.then, 0);
  return [...found];
};

Flotilla.serve((req) => {
  const q = new URL(req.url).searchParams;
  const path = new URL(req.url).pathname;
  const id = q.get('id');
  if (path === '/ready') return Response.json(stash.snapshots.length);
  if (path === '/release') { release(); released = new Promise((r) => { release = r; }); return Response.json('released'); }
  return als.run({ secret: 'secret-' + id }, async () => {
    if (path === '/hold') {
      // Sets a store for the rest of this callback too: must not reach other renders' code.
      als.enterWith({ secret: 'secret-' + id });
      stash.snapshots.push(ALS.snapshot());
      stash.bound.push(ALS.bind(() => secretOf()));
      gate.then(() => stash.seenByHolder.push([id, secretOf()]));
      later.then(() => stash.leftover.push(secretOf()));
      await Promise.race([released, new Promise((r) => setTimeout(r, 5000))]);
      await gate;
      return Response.json({ after: secretOf() });
    }
    if (path === '/probe') {
      const tries = {
        snapshot: stash.snapshots.map((s) => s(() => secretOf())),
        bound: stash.bound.map((f) => f()),
        mine: secretOf(),
      };
      gateOpen();
      await gate;
      tries.afterGate = secretOf();
      tries.native = await (0, eval)('(async (read) => { await null; return read(); })')(secretOf);
      tries.hunt = hunt();
      return Response.json(tries);
    }
    // /late: the holders have answered.
    laterOpen();
    await later;
    await new Promise((r) => setTimeout(r, 1));
    return Response.json({
      snapshot: stash.snapshots.map((s) => s(() => secretOf())),
      bound: stash.bound.map((f) => f()),
      leftover: stash.leftover,
      seenByHolder: stash.seenByHolder.sort(),
    });
  });
});`;

let iso: DeploymentIsolate;
beforeAll(async () => {
  const BUNDLE = await lowerForAsyncContext(SOURCE);
  iso = await DeploymentIsolate.load({
    deploymentId: 'als-security',
    code: BUNDLE,
    bundleHash: createHash('sha256').update(BUNDLE).digest('hex'),
  });
});
afterAll(() => iso.dispose());

const get = async (path: string, id: string) => {
  const res = await iso.render(
    { method: 'GET', url: `http://shop.test${path}?id=${id}`, headers: [], body: null },
    { requestId: `${path}-${id}` },
  );
  return JSON.parse(new TextDecoder().decode(res.body)) as unknown;
};

describe('AsyncLocalStorage stores across renders sharing an isolate', () => {
  it('never hands one render the store of another, while both run or after one ended', async () => {
    const holders = [get('/hold', 'a'), get('/hold', 'b')];
    // Both holders have stashed what they stash, and wait.
    await expect.poll(() => get('/ready', 'w'), { timeout: 20_000 }).toBe(2);
    const probe = await get('/probe', 'p');
    expect(probe).toEqual({
      // Made in a and b, called from p's code: no store.
      snapshot: [null, null],
      bound: [null, null],
      mine: 'secret-p',
      // p opened the gate: its own continuation is p's…
      afterGate: 'secret-p',
      // …and where the context is lost, there is none (not a's, b's or p's).
      native: null,
      hunt: [],
    });
    await get('/release', 'r');
    // The holders' own callbacks on the gate p opened ran as the holders.
    expect(await Promise.all(holders)).toEqual([{ after: 'secret-a' }, { after: 'secret-b' }]);
    const late = await get('/late', 'z');
    expect(late).toEqual({
      // Once a render ended, nothing made in it reads its store: not even from z's code…
      snapshot: [null, null],
      bound: [null, null],
      // …nor its own callbacks that z's promise resumes.
      leftover: [null, null],
      seenByHolder: [
        ['a', 'secret-a'],
        ['b', 'secret-b'],
      ],
    });
  }, 60_000);
});
