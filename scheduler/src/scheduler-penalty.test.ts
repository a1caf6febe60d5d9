import {
  decodeRenderRequest,
  decodeRenderResult,
  encodeHeartbeat,
  encodeRenderRequest,
  encodeRenderResult,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Scheduler } from './scheduler.ts';

const REGION = 'penalty-region';
const subjects = regionSubjects(REGION);
const BOMB = 'bomb-0123456789ab';
const GOOD = 'good-0123456789ab';

const running: Scheduler[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.drain()));
});

function request(deploymentId: string, i: number): RenderRequest {
  return {
    deploymentId,
    method: 'GET',
    url: `http://x.localhost/${i}`,
    headers: [],
    body: new Uint8Array(0),
    deadline: Date.now() + 10_000,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    requestId: `${deploymentId}-${i}`,
    attempt: 1,
  };
}

async function miss(transport: InProcessTransport, req: RenderRequest): Promise<RenderResult> {
  return decodeRenderResult(
    await transport.request(subjects.miss, encodeRenderRequest(req), { timeoutMs: 10_000 }),
  );
}

describe('the scheduler’s penalty box', () => {
  it('paces an app whose renders keep failing by its fault, one at a time after a pause, and leaves the others alone', async () => {
    const transport = new InProcessTransport();
    const registry = new Registry();
    const PAUSE_MS = 100;
    const scheduler = new Scheduler({
      transport,
      region: REGION,
      registry,
      maxQueueWaitMs: 300,
      penaltyBox: { pauseMs: PAUSE_MS },
    });
    scheduler.start();
    running.push(scheduler);
    // One worker: the bomb fails at once (an output bomb), the good app renders.
    const bombStarts: number[] = [];
    let bombInFlight = 0;
    let bombPeak = 0;
    transport.serve(subjects.workerRender('w-1'), async (msg) => {
      const req = decodeRenderRequest(msg);
      if (req.deploymentId === BOMB) {
        bombStarts.push(performance.now());
        bombPeak = Math.max(bombPeak, ++bombInFlight);
        await new Promise((r) => setTimeout(r, 2));
        bombInFlight--;
        return encodeRenderResult({
          ok: false,
          error: { code: 'FLOTILLA_ERR_OUTPUT_LIMIT', message: 'over the cap' },
          timings: {},
        });
      }
      await new Promise((r) => setTimeout(r, 2));
      return encodeRenderResult({
        ok: true,
        status: 200,
        headers: [],
        body: new TextEncoder().encode('good'),
        timings: {},
      });
    });
    const beat = () =>
      transport.publish(
        subjects.heartbeat,
        encodeHeartbeat({
          workerId: 'w-1',
          inFlight: 0,
          capacity: 8,
          warm: [BOMB, GOOD],
          draining: false,
          intervalMs: 1000,
        }),
      );
    beat();
    const beating = setInterval(beat, 200);
    try {
      await scheduler.waitForWorkers(1, 5000);
      // Four clients of the bomb, each straight back after its answer, for 80 answers.
      const bombAnswers: string[] = [];
      const loops = Array.from({ length: 4 }, async (_, lane) => {
        for (let i = 0; bombAnswers.length < 80; i++) {
          const r = await miss(transport, request(BOMB, lane * 1000 + i));
          bombAnswers.push(r.ok ? 'ok' : r.error.code);
        }
      });
      // The good app, one at a time meanwhile: never held back.
      const good: string[] = [];
      const goodLoop = (async () => {
        for (let i = 0; bombAnswers.length < 80; i++) {
          const r = await miss(transport, request(GOOD, i));
          good.push(r.ok ? 'ok' : r.error.code);
        }
      })();
      await Promise.all([...loops, goodLoop]);

      expect(good.length).toBeGreaterThan(0);
      expect(good.every((g) => g === 'ok')).toBe(true);
      const throttled = bombAnswers.filter((a) => a === 'FLOTILLA_ERR_THROTTLED').length;
      const failed = bombAnswers.filter((a) => a === 'FLOTILLA_ERR_OUTPUT_LIMIT').length;
      expect(throttled + failed).toBe(bombAnswers.length);
      expect(throttled).toBeGreaterThan(0);
      // What was throttled never reached the worker.
      expect(bombStarts.length).toBe(failed);
      // Boxed at its fifth failure, with at most four renders in flight (one
      // per client): from the ninth on, one at a time, each at least a pause after the last.
      const afterBox = bombStarts.slice(8);
      expect(afterBox.length).toBeGreaterThan(1);
      for (let i = 1; i < afterBox.length; i++) {
        expect((afterBox[i] ?? 0) - (afterBox[i - 1] ?? 0)).toBeGreaterThanOrEqual(PAUSE_MS - 1);
      }
      const boxed = (await registry.getSingleMetric('flotilla_scheduler_app_boxed')?.get())?.values;
      expect(boxed?.map((v) => [v.labels.app, v.value])).toEqual([['bomb', 1]]);
      const counted = (await registry.getSingleMetric('flotilla_scheduler_throttled_total')?.get())
        ?.values;
      expect(counted?.map((v) => [v.labels.app, v.value])).toEqual([['bomb', throttled]]);
    } finally {
      clearInterval(beating);
    }
  }, 60_000);
});
