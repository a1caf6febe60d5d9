/**
 * An isolate running a render on an isolated-vm pool thread is never called
 * synchronously from its thread: such a call takes the isolate's lock, so it
 * would wait for that run, and the CPU watch (on the same thread) could not
 * stop a run that never ends. The wall limit here is far (60 s): a blocked
 * thread would be freed only by that backstop.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GuestLogEntry } from './console-capture.ts';
import { DEFAULT_LIMITS } from './limits.ts';
import { disposeLoaded, loadBundle, rejection, request, text } from './test-helpers.ts';

afterEach(() => disposeLoaded());

const WALL_MS = 60_000;
const ceiling = { ...DEFAULT_LIMITS, wallMs: WALL_MS };
const limits = { cpuMs: 1000, wallMs: WALL_MS };

/**
 * Options of a bundle that logs `looping` right before its endless loop, and
 * a promise of that line: the host gets it while the loop runs on a pool
 * thread (the bundle's console lines reach the host asynchronously).
 */
function loopSignal(deploymentId: string) {
  let seen!: () => void;
  const looping = new Promise<void>((resolve) => {
    seen = resolve;
  });
  const log = (entry: GuestLogEntry) => {
    if (entry.message === 'looping') seen();
  };
  return { options: { deploymentId, limits, ceiling, log }, looping };
}

describe('an isolate busy on a pool thread', () => {
  it('reports its last heap reading at once, without waiting for the running render', async () => {
    const { options, looping } = loopSignal('d-busy-heap');
    const iso = await loadBundle(
      `Flotilla.serve((req) => {
        if (req.url.endsWith('/bomb')) { console.log('looping'); for (;;) {} }
        return new Response('ok');
      });`,
      options,
    );
    const idle = iso.heapUsed();
    const idleFresh = iso.heapFresh;
    // A fresh isolate's first render runs asynchronously, on a pool thread.
    const bomb = rejection(iso.render(request('http://shop.test/bomb')));
    await looping;
    const started = performance.now();
    const heap = iso.heapUsed();
    const tookMs = performance.now() - started;
    // A read that waited would end with the loop, at its 60 s wall-clock backstop.
    expect(tookMs).toBeLessThan(WALL_MS / 2);
    expect(iso.busy).toBe(true);
    expect({ heap, fresh: iso.heapFresh }).toEqual({ heap: idle, fresh: false });
    // Idle, it was read then.
    expect({ idle: idle > 0, idleFresh }).toEqual({ idle: true, idleFresh: true });
    expect((await bomb).code).toBe('FLOTILLA_ERR_CPU_LIMIT');
  }, 120_000);

  it('runs a render asynchronously while another of its renders runs on a pool thread, so the CPU watch stops that one', async () => {
    const { options, looping } = loopSignal('d-busy-sync');
    const iso = await loadBundle(
      `Flotilla.serve(async (req) => {
        if (req.url.endsWith('/bomb')) {
          await new Promise((r) => setTimeout(r, 0));
          console.log('looping');
          for (;;) {}
        }
        return new Response('ok');
      });`,
      options,
    );
    await iso.render(request());
    // Warm and short: its renders run synchronously.
    expect(text((await iso.render(request())).body)).toBe('ok');
    expect(iso.syncRenders).toBe(1);
    // The loop runs in a timer callback, on a pool thread.
    const bomb = rejection(iso.render(request('http://shop.test/bomb')));
    await looping;
    const next = rejection(iso.render(request()));
    expect((await bomb).code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    // It waited behind the loop in the isolate, and went with it.
    expect((await next).code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(iso.syncRenders).toBe(1);
  }, 120_000);
});
