/**
 * A CPU bomb on a machine whose cores are all busy (one busy-looping process
 * per core, started here) is stopped by its CPU limit, and a healthy render
 * in another isolate of the same worker thread, started while the bomb runs,
 * answers. The worker's wall limit (and so isolated-vm's wall-clock
 * `timeout`) sits far beyond the shield's deadline: only the CPU watch can
 * stop the bomb before the deadline, so a thread blocked on the bomb's
 * isolate (which stops the watch and every other render of the thread until
 * that backstop) fails both requests with the deadline.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { TestBundle } from '@flotilla/test-harness';
import {
  type Fleet,
  httpGet,
  metricValue,
  type RoleProcess,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

/** The shield's deadline: 100 times the bombs' CPU limit, headroom for a crawling wall clock. */
const DEADLINE_MS = 60_000;
/** The worker's wall limit: past the deadline, so that only the CPU limit can answer in time. */
const WALL_MS = 180_000;

const BOMBS: TestBundle[] = [
  { name: 'cpu-loop', code: `Flotilla.serve(() => { while (true) {} });`, limits: { cpuMs: 600 } },
  {
    name: 'microtask-loop',
    code: `Flotilla.serve(() => new Promise(() => { const f = () => { Promise.resolve().then(f); }; f(); }));`,
    limits: { cpuMs: 600 },
  },
];

let fleet: Fleet;
let worker: RoleProcess;
const hogs: ChildProcess[] = [];

beforeAll(async () => {
  // One thread: the healthy renders share the bomb's thread (and its event loop).
  fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    publish: fixtures(...BOMBS),
    args: {
      worker: ['--threads', '1', '--cpu-ms', '3000', '--wall-ms', String(WALL_MS)],
      shield: ['--timeout-ms', String(DEADLINE_MS)],
    },
  });
  [worker] = fleet.started.worker as [RoleProcess];
  // The healthy deployment's isolate is loaded before the machine gets busy.
  expect((await httpGet(`${fleet.shield.url}/react-shop/p/1`)).status).toBe(200);
  for (let i = 0; i < availableParallelism(); i++) {
    hogs.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  }
}, 120_000);

afterAll(async () => {
  for (const hog of hogs) hog.kill('SIGKILL');
  await fleet?.stop();
}, 180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a CPU bomb on a machine with every core busy', () => {
  it.each(BOMBS.map((b) => b.name))(
    '%s answers 503 FLOTILLA_ERR_CPU_LIMIT and a healthy render started after it in the same thread answers 200',
    async (name) => {
      const before = await metricValue(worker.url, 'flotilla_worker_errors_total', {
        code: 'FLOTILLA_ERR_CPU_LIMIT',
      });
      // The thread samples its isolates' heap after a render at most every
      // 500 ms: past that, the healthy render below ends with a sample.
      await sleep(600);
      const started = performance.now();
      const bomb = httpGet(`${fleet.shield.url}/${name}/`, { timeoutMs: DEADLINE_MS + 10_000 });
      await waitFor(async () => (await metricValue(worker.url, 'flotilla_worker_in_flight')) >= 1, {
        timeoutMs: DEADLINE_MS,
        message: `the ${name} render never started`,
      });
      const healthy = await httpGet(`${fleet.shield.url}/react-shop/p/2`, {
        timeoutMs: DEADLINE_MS + 10_000,
      });
      const healthyMs = performance.now() - started;
      const res = await bomb;
      const bombMs = performance.now() - started;
      expect(`${healthy.status} ${healthy.body.slice(0, 200)}`).toMatch(/^200 /);
      expect(healthy.body).toMatch(/No\. 2\b/);
      expect({ status: res.status, code: res.headers.get('x-flotilla-error') }).toEqual({
        status: 503,
        code: 'FLOTILLA_ERR_CPU_LIMIT',
      });
      expect(res.body).toMatch(/600 ms of CPU/);
      expect(
        await metricValue(worker.url, 'flotilla_worker_errors_total', {
          code: 'FLOTILLA_ERR_CPU_LIMIT',
        }),
      ).toBe(before + 1);
      expect(worker.child.exitStatus).toBeUndefined();
      console.log(
        `${name}: healthy render ${Math.round(healthyMs)} ms, bomb stopped ${Math.round(bombMs)} ms`,
      );
    },
    2 * DEADLINE_MS + 20_000,
  );
});
