/**
 * The protocol of the benches' render threads (`plain-thread.ts`,
 * `isolate-thread.ts`): post `{ html }` once warm, then for each
 * `{ durationMs }` received render in a loop for that long and post the
 * count and per-render latencies.
 *
 * @module
 */
import type { MessagePort } from 'node:worker_threads';

export function serveRenderLoops(
  port: MessagePort,
  html: string,
  renderOnce: () => Promise<unknown>,
): void {
  port.on('message', async ({ durationMs }: { durationMs: number }) => {
    const latencies: number[] = [];
    const started = performance.now();
    const until = started + durationMs;
    let t = started;
    while (t < until) {
      await renderOnce();
      const end = performance.now();
      latencies.push(end - t);
      t = end;
    }
    port.postMessage({ count: latencies.length, elapsedMs: t - started, latencies });
  });
  port.postMessage({ html });
}
