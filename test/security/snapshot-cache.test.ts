/**
 * Startup snapshots hold a deployment's evaluated bundle. A hostile bundle
 * must not reach another deployment through them: not by publishing the
 * victim's exact code (snapshots are per deployment, and made from the code,
 * never from a live isolate), not by leaving state in its own snapshot, not
 * by taking over the prelude's `__flotillaConnect` (the host's functions)
 * or un-hiding globals through builtins it patched at its top level (which
 * runs before the host connects, in an isolate started from a snapshot).
 */
import { createHash } from 'node:crypto';
import {
  DeploymentIsolate,
  type DeploymentSnapshot,
  SnapshotCache,
  type SnapshotEvent,
} from '@flotilla/runtime';
import { afterAll, describe, expect, it } from 'vitest';

const hash = (code: string) => createHash('sha256').update(code).digest('hex');

const VICTIM = `
let visits = 0;
Flotilla.serve((req, env) => {
  visits++;
  return Response.json({ visits, stolen: globalThis.stolen ?? null, env: { ...env } });
});`;

/**
 * Patches what the prelude might call after it (Map, Reflect,
 * defineProperty), tries to take over `__flotillaConnect` at its top level
 * and in renders, and reports what it got.
 */
const HOSTILE = `
const tries = [];
const got = [];
try { globalThis.__flotillaConnect = () => { got.push('replaced'); }; } catch (e) { tries.push('assign: ' + e.name); }
try { Object.defineProperty(globalThis, '__flotillaConnect', { value: () => {} }); } catch (e) { tries.push('define: ' + e.name); }
try { delete globalThis.__flotillaConnect; } catch (e) { tries.push('delete: ' + e.name); }
Map.prototype.set = function (k, v) { got.push('map:' + String(k)); return this; };
Reflect.apply = function (f, t, a) { got.push('reflect'); return f.apply(t, a); };
Object.defineProperty = function (o, k, d) { got.push('define:' + String(k)); return o; };
Flotilla.serve((req, env) => {
  // Not new URL(): the lazy URL global is defined with the Object.defineProperty patched above.
  if (req.url.endsWith('/stash')) globalThis.stolen = env.SECRET;
  let connected = 'no';
  try {
    globalThis.__flotillaConnect((...a) => got.push('log'), () => {}, () => {}, () => new Uint8Array(0), () => null);
    connected = 'yes';
  } catch (e) { connected = e.message; }
  return Response.json({
    tries,
    got: [...new Set(got)],
    connected,
    hidden: [typeof SharedArrayBuffer, typeof Atomics],
    stolen: globalThis.stolen ?? null,
  });
});`;

const caches: SnapshotCache[] = [];
const isolates: DeploymentIsolate[] = [];
afterAll(() => {
  for (const iso of isolates) iso.dispose();
  for (const cache of caches) cache.close();
});

async function start(
  deploymentId: string,
  code: string,
  snapshot?: DeploymentSnapshot,
): Promise<DeploymentIsolate> {
  const iso = await DeploymentIsolate.load({
    deploymentId,
    code,
    bundleHash: hash(code),
    ...(snapshot ? { snapshot } : {}),
  });
  isolates.push(iso);
  return iso;
}

async function json(
  iso: DeploymentIsolate,
  path: string,
  env?: Record<string, string>,
): Promise<Record<string, unknown>> {
  const res = await iso.render(
    { method: 'GET', url: `http://x${path}`, headers: [], body: null },
    env ? { env } : {},
  );
  expect(res.status).toBe(200);
  return JSON.parse(Buffer.from(res.body).toString()) as Record<string, unknown>;
}

/**
 * Replaces a builtin V8's own context set-up relies on: V8 aborts the process
 * that starts a context from such a snapshot (`Check failed: current_key !=
 * *desc->GetKey()`), so the snapshot maker must, and not the worker.
 */
const CRASHER = `
Array.prototype[Symbol.iterator] = function* () {};
Flotilla.serve(() => new Response('still served'));`;

// Each snapshot is a child process (~1 s of CPU on an idle machine): room for a busy one.
describe('the snapshot cache between deployments', { timeout: 180_000 }, () => {
  it('never hands one deployment’s snapshot to another, even with the same bundle', async () => {
    const cache = new SnapshotCache();
    caches.push(cache);
    // The attacker publishes the victim's exact bundle and renders with its own secret first.
    const attacker = await start('attacker-copy', VICTIM);
    await json(attacker, '/', { SECRET: 'attacker' });
    expect(
      await cache.request({
        deploymentId: 'attacker-copy',
        bundleHash: hash(VICTIM),
        code: VICTIM,
        warmupPaths: ['/'],
        heapMb: 128,
      }),
    ).toBe(true);
    const attackers = cache.get('attacker-copy', hash(VICTIM));
    if (!attackers) throw new Error('no snapshot');
    // Not the victim's: it has none yet, and the attacker's is refused for it.
    expect(cache.get('victim', hash(VICTIM))).toBeUndefined();
    await expect(start('victim', VICTIM, attackers)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
    });
    // The attacker's own snapshot holds the code, not its isolate's renders.
    const again = await start('attacker-copy', VICTIM, attackers);
    expect(await json(again, '/')).toEqual({ visits: 1, stolen: null, env: {} });
  });

  it('keeps a hostile bundle from the host’s functions and hidden globals, and its state to itself', async () => {
    const events: SnapshotEvent[] = [];
    const cache = new SnapshotCache({ onSnapshot: (e) => events.push(e) });
    caches.push(cache);
    const made = await cache.request({
      deploymentId: 'hostile',
      bundleHash: hash(HOSTILE),
      code: HOSTILE,
      warmupPaths: ['/stash'],
      heapMb: 128,
    });
    // Fresh, the host connected before the bundle ran; from a snapshot, after it.
    const starts = [await start('hostile', HOSTILE)];
    const snapshot = cache.get('hostile', hash(HOSTILE));
    if (made && snapshot) starts.push(await start('hostile', HOSTILE, snapshot));
    expect(made, JSON.stringify(events)).toBe(true);
    for (const iso of starts) {
      const first = await json(iso, '/stash', { SECRET: 'hostile-secret' });
      expect(first).toMatchObject({
        // Assigning and deleting fail silently (sloppy mode); defining throws.
        tries: ['define: TypeError'],
        connected: 'the prelude is already connected',
        hidden: ['undefined', 'undefined'],
        stolen: 'hostile-secret',
      });
      // Its patched builtins saw none of the host's calls into the prelude.
      expect(first.got).not.toContain('log');
      expect(first.got).not.toContain('replaced');
    }
    // A victim started afterwards, fresh or from its own snapshot, sees nothing of it.
    expect(
      await cache.request({
        deploymentId: 'victim-2',
        bundleHash: hash(VICTIM),
        code: VICTIM,
        heapMb: 128,
      }),
    ).toBe(true);
    const victimSnapshot = cache.get('victim-2', hash(VICTIM));
    for (const victim of [
      await start('victim-2', VICTIM),
      await start('victim-2', VICTIM, victimSnapshot),
    ]) {
      expect(await json(victim, '/', { SECRET: 'victim' })).toEqual({
        visits: 1,
        stolen: null,
        env: { SECRET: 'victim' },
      });
    }
  });

  it('lets a bundle whose snapshot would abort the process crash only the snapshot maker', async () => {
    const events: SnapshotEvent[] = [];
    const cache = new SnapshotCache({ onSnapshot: (e) => events.push(e) });
    caches.push(cache);
    const made = await cache.request({
      deploymentId: 'crasher',
      bundleHash: hash(CRASHER),
      code: CRASHER,
      heapMb: 128,
    });
    expect(made).toBe(false);
    expect(events).toEqual([
      expect.objectContaining({ outcome: 'failed', message: expect.stringContaining('exited') }),
    ]);
    expect(cache.get('crasher', hash(CRASHER))).toBeUndefined();
    // This process (the worker) lives on and serves the deployment, loaded fresh.
    const iso = await start('crasher', CRASHER);
    const res = await iso.render({ method: 'GET', url: 'http://x/', headers: [], body: null });
    expect(Buffer.from(res.body).toString()).toBe('still served');
  });
});
