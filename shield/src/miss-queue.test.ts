import { describe, expect, it } from 'vitest';
import { MissQueue } from './miss-queue.ts';

/** Keeps the CPU busy for `ms` (a task's synchronous work). */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {}
}

describe('MissQueue', () => {
  it('runs every task in order, none at once', async () => {
    const queue = new MissQueue();
    const ran: number[] = [];
    for (let i = 0; i < 5; i++) queue.push(() => ran.push(i));
    expect(ran).toEqual([]);
    expect(queue.waiting).toBe(5);
    await new Promise((resolve) => queue.push(() => resolve(undefined)));
    expect(ran).toEqual([0, 1, 2, 3, 4]);
    expect(queue.waiting).toBe(0);
  });

  it('lets the event loop turn between slices of a burst, their promises’ work counted', async () => {
    const queue = new MissQueue({ sliceMs: 2 });
    const ran: number[] = [];
    const turns: number[] = [];
    const all: Array<Promise<void>> = [];
    for (let i = 0; i < 200; i++) {
      all.push(
        new Promise((resolve) =>
          queue.push(() => {
            // The work is in the task's promise chain, as a miss's is.
            void Promise.resolve()
              .then(() => spin(0.2))
              .then(() => {
                ran.push(i);
                resolve();
              });
          }),
        ),
      );
    }
    // What the event loop does between slices: here, note how many tasks had run.
    let done = false;
    const watch = () => {
      turns.push(ran.length);
      if (!done) setImmediate(watch);
    };
    setImmediate(watch);
    await Promise.all(all);
    done = true;
    expect(ran).toEqual(Array.from({ length: 200 }, (_, i) => i));
    // 200 × 0.2 ms of work in slices of about 2 ms: the loop turned in between, many times.
    const between = turns.filter((n) => n > 0 && n < 200);
    expect(new Set(between).size).toBeGreaterThan(5);
  });

  it('runs the tasks after one that throws', async () => {
    const queue = new MissQueue();
    queue.push(() => {
      throw new Error('boom');
    });
    await new Promise((resolve) => queue.push(() => resolve(undefined)));
  });

  it('validates sliceMs', () => {
    expect(() => new MissQueue({ sliceMs: 0 })).toThrow(/sliceMs/);
  });
});
