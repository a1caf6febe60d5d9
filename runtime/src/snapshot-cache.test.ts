import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { IsolateCache } from './isolate-cache.ts';
import { DeploymentIsolate } from './sandbox.ts';
import {
  acceptAnswer,
  type DeploymentSnapshot,
  SnapshotCache,
  type SnapshotEvent,
} from './snapshot-cache.ts';
import { hashOf, rejection, request, text } from './test-helpers.ts';

// Module state, globals set by renders, URL parsing, encoders, clocks and
// randomness at render time: what an isolate from a snapshot must do as a
// fresh one does.
const APP = `
let renders = 0;
const loadedAt = typeof performance.timeOrigin;
const table = new Map([['a', 1], ['b', 2]]);
Flotilla.serve((req, env) => {
  renders++;
  const url = new URL(req.url);
  if (url.pathname === '/set') globalThis.leaked = env.KEY;
  if (req.headers.get('x-flotilla-prewarm') === '1') globalThis.warmedUp = true;
  return Response.json({
    path: url.pathname,
    q: url.searchParams.get('q'),
    renders,
    loadedAt,
    table: [...table],
    env: { ...env },
    leaked: globalThis.leaked ?? null,
    warmedUp: globalThis.warmedUp ?? false,
    bytes: [...new TextEncoder().encode('é')],
    clone: structuredClone({ d: new Date(0), f: new Float32Array([1.5]) }).f[0],
    random: crypto.getRandomValues(new Uint8Array(8)).length,
    uuid: crypto.randomUUID().length,
    hidden: [typeof SharedArrayBuffer, typeof Atomics],
    wasm: typeof WebAssembly,
    origin: Math.abs(performance.timeOrigin - Date.now()) < 60000,
  });
});`;

const caches: SnapshotCache[] = [];
afterAll(() => {
  for (const cache of caches) cache.close();
});

/** Snapshot events as they come, and a promise of the first (no polling, no wall-time guess). */
function recorder(): {
  events: SnapshotEvent[];
  first: Promise<SnapshotEvent>;
  onSnapshot: (e: SnapshotEvent) => void;
} {
  const events: SnapshotEvent[] = [];
  let resolve: (event: SnapshotEvent) => void = () => {};
  const first = new Promise<SnapshotEvent>((r) => {
    resolve = r;
  });
  return {
    events,
    first,
    onSnapshot: (event) => {
      events.push(event);
      resolve(event);
    },
  };
}

function snapshots(events?: SnapshotEvent[]): SnapshotCache {
  const cache = new SnapshotCache({ onSnapshot: (event) => events?.push(event) });
  caches.push(cache);
  return cache;
}

async function made(
  cache: SnapshotCache,
  deploymentId: string,
  code: string,
  warmupPaths: string[] = ['/'],
): Promise<DeploymentSnapshot> {
  const ok = await cache.request({
    deploymentId,
    bundleHash: hashOf(code),
    code,
    warmupPaths,
    heapMb: 128,
  });
  expect(ok).toBe(true);
  const snapshot = cache.get(deploymentId, hashOf(code));
  if (!snapshot) throw new Error('no snapshot');
  return snapshot;
}

async function renderJson(
  iso: DeploymentIsolate,
  path: string,
  env?: Record<string, string>,
): Promise<Record<string, unknown>> {
  const res = await iso.render(request(`http://shop.test${path}`), env ? { env } : {});
  expect(res.status).toBe(200);
  return JSON.parse(text(res.body)) as Record<string, unknown>;
}

// Each snapshot is a child process (~1 s of CPU on an idle machine): room for a busy one.
const SLOW = { timeout: 180_000 };

describe('startup snapshots', SLOW, () => {
  it('starts an isolate that renders as a fresh one does', async () => {
    const cache = snapshots();
    const snapshot = await made(cache, 'snap-same', APP);
    const fresh = await DeploymentIsolate.load({
      deploymentId: 'snap-same',
      code: APP,
      bundleHash: hashOf(APP),
    });
    const started = await DeploymentIsolate.load({
      deploymentId: 'snap-same',
      code: APP,
      bundleHash: hashOf(APP),
      snapshot,
    });
    try {
      expect(fresh.fromSnapshot).toBe(false);
      expect(started.fromSnapshot).toBe(true);
      for (const path of ['/', '/p/1?q=x%20y', '/p/2']) {
        const a = await renderJson(fresh, path, { KEY: 'k' });
        const b = await renderJson(started, path, { KEY: 'k' });
        expect(b).toEqual(a);
      }
      const last = await renderJson(started, '/');
      expect(last).toMatchObject({
        renders: 4,
        hidden: ['undefined', 'undefined'],
        wasm: 'object',
        clone: 1.5,
        origin: true,
        // The warm-up render ran in a throw-away context: none of its state is here.
        warmedUp: false,
      });
    } finally {
      fresh.dispose();
      started.dispose();
    }
  });

  it('keeps env and globals a render set out of other isolates started from it', async () => {
    const cache = snapshots();
    const snapshot = await made(cache, 'snap-env', APP);
    const load = () =>
      DeploymentIsolate.load({
        deploymentId: 'snap-env',
        code: APP,
        bundleHash: hashOf(APP),
        snapshot,
      });
    const staging = await load();
    const production = await load();
    try {
      const a = await renderJson(staging, '/set', { KEY: 'staging-secret' });
      expect(a).toMatchObject({ env: { KEY: 'staging-secret' }, leaked: 'staging-secret' });
      const b = await renderJson(production, '/', { KEY: 'production-secret' });
      expect(b).toMatchObject({ env: { KEY: 'production-secret' }, leaked: null, renders: 1 });
      // A later isolate from the same snapshot starts clean as well.
      const later = await load();
      try {
        expect(await renderJson(later, '/')).toMatchObject({ env: {}, leaked: null, renders: 1 });
      } finally {
        later.dispose();
      }
    } finally {
      staging.dispose();
      production.dispose();
    }
  });

  it('refuses a snapshot made elsewhere, released, or of another deployment', async () => {
    const cache = snapshots();
    const snapshot = await made(cache, 'snap-own', APP);
    const forged = { deploymentId: 'snap-own', bundleHash: hashOf(APP), bytes: snapshot.bytes };
    for (const [deploymentId, bad] of [
      ['snap-own', forged],
      ['snap-other', snapshot],
    ] as const) {
      const err = await rejection(
        DeploymentIsolate.load({ deploymentId, code: APP, bundleHash: hashOf(APP), snapshot: bad }),
      );
      expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(err.message).toContain('snapshot');
    }
    cache.refuse('snap-own', hashOf(APP));
    const err = await rejection(
      DeploymentIsolate.load({
        deploymentId: 'snap-own',
        code: APP,
        bundleHash: hashOf(APP),
        snapshot,
      }),
    );
    expect(err.message).toContain('was not made by this process');
    expect(cache.get('snap-own', hashOf(APP))).toBeUndefined();
    // Refused: never made again.
    expect(
      await cache.request({
        deploymentId: 'snap-own',
        bundleHash: hashOf(APP),
        code: APP,
        heapMb: 128,
      }),
    ).toBe(false);
  });

  it('refuses bytes that arrive corrupt from the child', () => {
    const bytes = new Uint8Array([1, 2, 3, 4]);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    expect(acceptAnswer({ ok: true, bytes, sha256, guarded: 0 }).ok).toBe(true);
    const flipped = bytes.slice();
    flipped[2] = 3 ^ 1;
    const answer = acceptAnswer({ ok: true, bytes: flipped, sha256, guarded: 0 });
    expect(answer).toEqual({ ok: false, message: expect.stringContaining('corrupt') });
  });

  it('refuses a bundle that cannot be held in a snapshot, and says why', async () => {
    const events: SnapshotEvent[] = [];
    const cache = snapshots(events);
    const bundles = {
      timer: `setTimeout(() => {}, 10); Flotilla.serve(() => new Response('x'));`,
      random: `const id = crypto.randomUUID(); Flotilla.serve(() => new Response(id));`,
      late: `const limit = Error.stackTraceLimit; Flotilla.serve(() => new Response(String(limit)));`,
      wasm: `const has = typeof WebAssembly; Flotilla.serve(() => new Response(has));`,
      loop: `while (true) {}`,
    };
    const slow = new SnapshotCache({ timeoutMs: 3000, onSnapshot: (e) => events.push(e) });
    caches.push(slow);
    for (const [name, code] of Object.entries(bundles)) {
      const target = name === 'loop' ? slow : cache;
      const ok = await target.request({
        deploymentId: `snap-${name}`,
        bundleHash: hashOf(code),
        code,
        heapMb: 128,
      });
      expect(ok, name).toBe(false);
    }
    const why = (id: string) => events.find((e) => e.deploymentId === id)?.message ?? '';
    expect(why('snap-timer')).toContain('setTimeout');
    expect(why('snap-random')).toContain('crypto');
    expect(why('snap-late')).toContain('Error.stackTraceLimit');
    expect(why('snap-wasm')).toContain('WebAssembly');
    expect(events.find((e) => e.deploymentId === 'snap-loop')).toMatchObject({
      outcome: 'failed',
      message: expect.stringContaining('longer than 3000 ms'),
    });
  });

  it('lets an IsolateCache start a deployment’s isolates from its snapshot once it came back', async () => {
    const seen = recorder();
    const cache = new SnapshotCache({ onSnapshot: seen.onSnapshot });
    caches.push(cache);
    const starts: boolean[] = [];
    const isolates = new IsolateCache({
      maxIsolates: 1,
      snapshots: cache,
      onColdStart: (_id, _ms, fromSnapshot) => starts.push(fromSnapshot),
    });
    const source = (id: string) => ({
      deploymentId: id,
      bundleHash: hashOf(APP),
      loadCode: async () => APP,
      warmupPaths: ['/'],
    });
    try {
      expect((await isolates.prewarm(source('snap-a'))).fromSnapshot).toBe(false);
      await isolates.acquire(source('snap-b')); // evicts snap-a (maxIsolates 1)
      // snap-a's second fresh load: its snapshot is made in the background.
      const second = await isolates.acquire(source('snap-a'));
      expect(second.isolate.fromSnapshot).toBe(false);
      expect(await seen.first).toMatchObject({ deploymentId: 'snap-a', outcome: 'made' });
      // Joins the request under way (its event comes just before it is stored).
      expect(await cache.request({ ...source('snap-a'), code: APP, heapMb: 128 })).toBe(true);
      await isolates.acquire(source('snap-b'));
      const third = await isolates.acquire(source('snap-a'));
      expect(third.isolate.fromSnapshot).toBe(true);
      expect(await renderJson(third.isolate, '/')).toMatchObject({ renders: 1, path: '/' });
      expect(starts).toEqual([false, false, false, false, true]);
    } finally {
      await isolates.disposeAll();
    }
  });

  it('forks no snapshot maker for a deployment loaded fresh only once', async () => {
    const seen = recorder();
    const cache = new SnapshotCache({ onSnapshot: seen.onSnapshot });
    caches.push(cache);
    const isolates = new IsolateCache({ maxIsolates: 1, snapshots: cache });
    const source = (id: string) => ({
      deploymentId: id,
      bundleHash: hashOf(APP),
      loadCode: async () => APP,
    });
    try {
      await isolates.acquire(source('once'));
      // `twice` loads fresh twice (maxIsolates 1: `once-more` evicts it in between).
      await isolates.acquire(source('twice'));
      await isolates.acquire(source('once-more'));
      await isolates.acquire(source('twice'));
      // One child at a time, in the order asked: had `once` or `once-more`
      // been asked for, its event would have come before `twice`'s.
      expect(await seen.first).toMatchObject({ deploymentId: 'twice', outcome: 'made' });
      expect(seen.events).toHaveLength(1);
      expect(await cache.request({ ...source('twice'), code: APP, heapMb: 128 })).toBe(true);
      expect(cache.get('once', hashOf(APP))).toBeUndefined();
      expect(cache.size).toBe(1);
    } finally {
      await isolates.disposeAll();
    }
  });

  it('makes the snapshot after the first fresh load with snapshotAfterLoads 1', async () => {
    const events: SnapshotEvent[] = [];
    const cache = new SnapshotCache({ snapshotAfterLoads: 1, onSnapshot: (e) => events.push(e) });
    caches.push(cache);
    const req = { deploymentId: 'snap-first', bundleHash: hashOf(APP), code: APP, heapMb: 128 };
    expect(await cache.loadedFresh(req)).toBe(true);
    expect(events).toEqual([
      expect.objectContaining({ deploymentId: 'snap-first', outcome: 'made' }),
    ]);
    // The default waits for the second load.
    const later = snapshots();
    expect(await later.loadedFresh(req)).toBe(false);
    expect(later.size).toBe(0);
    expect(await later.loadedFresh(req)).toBe(true);
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new SnapshotCache({ snapshotAfterLoads: bad })).toThrow(/snapshotAfterLoads/);
    }
  });
});

describe('snapshot keys', SLOW, () => {
  it('a different bundle of the same deployment gets its own snapshot', async () => {
    const cache = snapshots();
    const other = `${APP}\n// v2`;
    const a = await made(cache, 'snap-key', APP, []);
    const b = await made(cache, 'snap-key', other, []);
    expect(a).not.toBe(b);
    expect(createHash('sha256').update(other).digest('hex')).toBe(b.bundleHash);
  });
});
