/**
 * A worker thread running the plain-Node baseline: warms up, posts
 * `{ html }` (the page it renders), then for each `{ durationMs }` it
 * receives renders in a loop for that long and posts its count and
 * per-render latencies.
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { installBackendFetch, loadPlainApp, renderOnce } from './plain-app.ts';
import { serveRenderLoops } from './thread-loop.ts';

interface Data {
  modulePath: string;
  url: string;
  warmup: number;
  /** Origins of the backends the app fetches (`backend://api/…`), if it fetches any. */
  backends?: Record<string, string>;
}

const data = workerData as Data;
const port = parentPort;
if (!port) throw new Error('plain-thread.ts must run as a worker thread');
if (data.backends) installBackendFetch(data.backends);
const app = await loadPlainApp(data.modulePath);
for (let i = 0; i < data.warmup; i++) await renderOnce(app, data.url);
const html = await renderOnce(app, data.url);
serveRenderLoops(port, html, () => renderOnce(app, data.url));
