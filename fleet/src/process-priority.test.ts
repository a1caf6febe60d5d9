import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lowerProcessPriority } from './process-priority.ts';

const MODULE = fileURLToPath(new URL('./process-priority.ts', import.meta.url));

describe('lowerProcessPriority', () => {
  it.runIf(process.platform === 'linux')(
    'lowers every thread of the process, and the threads it starts later inherit it',
    () => {
      // In a process of its own: the test's own priority stays as it is.
      const script = `
        import { readdirSync, readFileSync } from 'node:fs';
        import { Worker } from 'node:worker_threads';
        const { lowerProcessPriority } = await import(${JSON.stringify(MODULE)});
        const before = readdirSync('/proc/self/task').length;
        const now = lowerProcessPriority(3);
        const w = new Worker('setTimeout(() => {}, 300)', { eval: true });
        await new Promise((r) => w.once('online', r));
        const nice = readdirSync('/proc/self/task').map(
          (t) => Number(readFileSync('/proc/self/task/' + t + '/stat', 'utf8').split(') ')[1].split(' ')[16]),
        );
        console.log(JSON.stringify({ before, now, nice }));
        await w.terminate();
      `;
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
      });
      const { before, now, nice } = JSON.parse(out) as {
        before: number;
        now: number;
        nice: number[];
      };
      expect(now).toBeGreaterThanOrEqual(3);
      expect(nice.length).toBeGreaterThan(before);
      for (const n of nice) expect(n).toBe(now);
    },
  );

  it('validates the amount, naming the option', () => {
    expect(() => lowerProcessPriority(20)).toThrow(/nice/);
    expect(() => lowerProcessPriority(-1)).toThrow(/nice/);
    expect(() => lowerProcessPriority(1.5)).toThrow(/nice/);
  });
});
