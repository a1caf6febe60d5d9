import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@flotilla/test-harness';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DirectoryBundleStore } from './bundle-store.ts';
import { RenderWorker } from './render-worker.ts';
import { lowerThreadPriority } from './thread-priority.ts';

/** Nice value of every thread of this process, by thread id (Linux). */
async function niceByThread(): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const tid of await readdir('/proc/self/task')) {
    try {
      const stat = await readFile(`/proc/self/task/${tid}/stat`, 'utf8');
      // Field 19 (nice): the 17th after the command's closing parenthesis.
      out.set(Number(tid), Number(stat.split(') ')[1]?.split(' ')[16]));
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return out;
}

describe('render threads yield the CPU, the worker’s main thread keeps its priority', () => {
  it.runIf(process.platform === 'linux')(
    'lowers the render threads only, not the thread that started the worker',
    async () => {
      const base = getPriority();
      const before = await niceByThread();
      const root = await mkdtemp(join(tmpdir(), 'flotilla-nice-'));
      const worker = new RenderWorker({
        transport: new InProcessTransport(),
        region: 'nice-test',
        bundles: new DirectoryBundleStore(root),
        threads: 2,
        registry: new Registry(),
        renderNice: 3,
      });
      try {
        await worker.start();
        // Both render threads (and any thread they started) run at +3, once they ran their module…
        const lowered = async () =>
          [...(await niceByThread())].filter(([tid, n]) => !before.has(tid) && n === base + 3);
        await waitFor(async () => (await lowered()).length >= 2, {
          timeoutMs: 20_000,
          message: 'the render threads never lowered their priority',
        });
        const after = await niceByThread();
        // …while this thread, and every thread that was there before, kept its priority.
        expect(getPriority()).toBe(base);
        for (const [tid, n] of before) if (after.has(tid)) expect(after.get(tid)).toBe(n);
      } finally {
        await worker.drain();
        await rm(root, { recursive: true, force: true });
      }
    },
    30_000,
  );

  it('validates the amount, naming the option', () => {
    expect(() => lowerThreadPriority(20)).toThrow(/nice/);
    expect(() => lowerThreadPriority(-1)).toThrow(/nice/);
    expect(() => lowerThreadPriority(1.5)).toThrow(/nice/);
    expect(lowerThreadPriority(0)).toBe(getPriority());
    expect(
      () =>
        new RenderWorker({
          transport: new InProcessTransport(),
          region: 'nice-test',
          bundles: new DirectoryBundleStore(tmpdir()),
          renderNice: 20,
        }),
    ).toThrow(/renderNice/);
  });
});
