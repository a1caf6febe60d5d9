/**
 * `setInterval`/`clearInterval` and the User Timing part of `performance`
 * (`mark`, `measure`, entries), tested inside a real isolate against Node
 * where Node follows the standards, and per render where the isolate differs
 * on purpose (an interval stops when its render answers; a render sees only
 * its own marks).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeploymentIsolate } from './sandbox.ts';
import { disposeLoaded, loadBundle, SNIPPET_RUNNER, snippets } from './test-helpers.ts';

let iso: DeploymentIsolate;
beforeAll(async () => {
  iso = await loadBundle(SNIPPET_RUNNER, { deploymentId: 'd-guest-timing' });
});
afterAll(() => disposeLoaded());

const { inGuest, sameAsNode } = snippets(() => iso);

describe('setInterval and clearInterval', () => {
  it('repeat with extra arguments until cleared, from inside the callback too', async () => {
    expect(
      await sameAsNode(`
        const ticks = [];
        await new Promise((resolve) => {
          const id = setInterval((a, b) => {
            ticks.push(a + b);
            if (ticks.length === 3) { clearInterval(id); setTimeout(resolve, 5); }
          }, 1, 'x', 'y');
        });
        let bad;
        try { setInterval('code string', 1); bad = 'none'; } catch (e) { bad = e.name; }
        return [ticks, typeof setInterval, typeof clearInterval, bad];`),
    ).toEqual([['xy', 'xy', 'xy'], 'function', 'function', 'TypeError']);
  });

  it('share one id space with timeouts: clearTimeout stops an interval, clearInterval a timeout', async () => {
    expect(
      await sameAsNode(`
        const seen = [];
        const interval = setInterval(() => seen.push('interval'), 1);
        clearTimeout(interval);
        const timeout = setTimeout(() => seen.push('timeout'), 1);
        clearInterval(timeout);
        clearInterval(undefined); clearInterval('nope');
        await new Promise((resolve) => setTimeout(resolve, 20));
        return seen;`),
    ).toEqual([]);
  });

  it('go on after a callback throws (the exception is reported, as in browsers)', async () => {
    const out = await inGuest(`
      let n = 0;
      await new Promise((resolve) => {
        const id = setInterval(() => {
          n++;
          if (n === 3) { clearInterval(id); resolve(); }
          if (n === 1) throw new Error('first tick fails');
        }, 1);
      });
      return n;`);
    expect(out).toEqual({ ok: true, value: 3 });
  });

  it('stop when their render answers: an interval left running never runs in a later render', async () => {
    const left = await inGuest(`
      globalThis.leftTicks = 0;
      setInterval(() => { globalThis.leftTicks++; }, 1);
      return 'answered';`);
    expect(left).toEqual({ ok: true, value: 'answered' });
    const later = await inGuest(`
      const before = globalThis.leftTicks;
      await new Promise((resolve) => setTimeout(resolve, 30));
      return globalThis.leftTicks - before;`);
    expect(later).toEqual({ ok: true, value: 0 });
  });
});

describe('performance: User Timing', () => {
  it('marks and measures like Node: entries, details, mark names, options, errors', async () => {
    expect(
      await sameAsNode(`
        performance.clearMarks(); performance.clearMeasures();
        const a = performance.mark('a', { detail: { x: 1 } });
        performance.mark('b');
        const ab = performance.measure('a-b', 'a', 'b');
        const opt = performance.measure('opt', { start: 'a', duration: 5, detail: 'd' });
        const errors = [];
        for (const f of [
          () => performance.measure('bad', 'nope'),
          () => new PerformanceEntry(),
          () => new PerformanceMeasure(),
          () => performance.mark('neg', { startTime: -1 }),
        ]) { try { f(); errors.push('none'); } catch (e) { errors.push(e.name); } }
        const shape = [
          a instanceof PerformanceMark, a instanceof PerformanceEntry, a.entryType, a.duration, a.detail,
          ab instanceof PerformanceMeasure, ab.entryType, ab.duration >= 0, opt.duration, opt.detail,
          Object.prototype.toString.call(a), Object.keys(a.toJSON()).sort(),
          new PerformanceMark('m', { startTime: 12 }).startTime,
        ];
        const listed = [
          performance.getEntriesByName('a').length,
          performance.getEntriesByType('measure').map((e) => e.name),
          performance.getEntriesByName('a', 'measure').length,
        ];
        performance.clearMarks('a');
        const afterClear = performance.getEntriesByType('mark').map((e) => e.name);
        performance.clearMarks(); performance.clearMeasures();
        return [shape, listed, afterClear, errors, performance.getEntries().length];`),
    ).toEqual([
      [
        true,
        true,
        'mark',
        0,
        { x: 1 },
        true,
        'measure',
        true,
        5,
        'd',
        '[object PerformanceMark]',
        ['detail', 'duration', 'entryType', 'name', 'startTime'],
        12,
      ],
      [1, ['a-b', 'opt'], 0],
      ['b'],
      ['SyntaxError', 'TypeError', 'TypeError', 'TypeError'],
      0,
    ]);
  });

  it('keeps a timeline per render: no render sees another’s marks, and they go when it ends', async () => {
    const [a, b] = await Promise.all([
      inGuest(`
        performance.mark('from-a');
        await new Promise((resolve) => setTimeout(resolve, 40));
        return performance.getEntries().map((e) => e.name);`),
      inGuest(`
        await new Promise((resolve) => setTimeout(resolve, 5));
        performance.mark('from-b');
        return performance.getEntries().map((e) => e.name);`),
    ]);
    expect(a).toEqual({ ok: true, value: ['from-a'] });
    expect(b).toEqual({ ok: true, value: ['from-b'] });
    const sync = await inGuest(`performance.mark('sync'); return 1;`);
    expect(sync).toEqual({ ok: true, value: 1 });
    expect(await inGuest('return performance.getEntries().length;')).toEqual({
      ok: true,
      value: 0,
    });
  });

  it('holds at most 1000 entries per render, dropping the oldest', async () => {
    expect(
      await inGuest(`
        for (let i = 0; i < 1500; i++) performance.mark('m' + i);
        const all = performance.getEntries();
        return [all.length, all[0].name, all[all.length - 1].name];`),
    ).toEqual({ ok: true, value: [1000, 'm500', 'm1499'] });
  });
});
