/**
 * A worker thread rendering straight into one deployment's isolate
 * (`DeploymentIsolate.render`, the runtime's whole render: limits, CPU and
 * wall watch, result checks, the body copied out), without the worker
 * process around it: no transport, no piscina hop. Same protocol as
 * `plain-thread.ts`: warms up, posts `{ html }`, then for each
 * `{ durationMs }` renders in a loop for that long and posts its count and
 * per-render latencies.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CompileCache, DeploymentIsolate } from '@flotilla/runtime';
import { serveRenderLoops } from './thread-loop.ts';

interface Data {
  code: string;
  bundleHash: string;
  url: string;
  warmup: number;
}

const data = workerData as Data;
const port = parentPort;
if (!port) throw new Error('isolate-thread.ts must run as a worker thread');
const isolate = await DeploymentIsolate.load({
  deploymentId: 'bench-isolate',
  code: data.code,
  bundleHash: data.bundleHash,
  compileCache: new CompileCache(),
});
const host = new URL(data.url).host;
const decoder = new TextDecoder();
let n = 0;
async function renderOnce(): Promise<string> {
  const response = await isolate.render(
    { method: 'GET', url: data.url, headers: [['host', host]], body: null },
    { requestId: `bench-${++n}`, deadline: Date.now() + 10_000 },
  );
  if (response.status !== 200) throw new Error(`isolate render: status ${response.status}`);
  return decoder.decode(response.body);
}
for (let i = 0; i < data.warmup; i++) await renderOnce();
const html = await renderOnce();
serveRenderLoops(port, html, renderOnce);
