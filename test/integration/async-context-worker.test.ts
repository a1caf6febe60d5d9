/**
 * AsyncLocalStorage through the whole render path: an app that imports
 * `node:async_hooks`, built by `buildProject` as `flotilla build` builds it,
 * served by a real RenderWorker (one piscina thread, so every render shares
 * one isolate; CPU slots hand a render's slot to another while it waits on
 * its backend). Concurrent requests each see only their own store after
 * awaits of backend fetches, their bodies, timers and Promise.all.
 */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeRenderResult,
  encodeRenderRequest,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import { buildProject } from '@flotilla/sdk/build';
import { InProcessTransport } from '@flotilla/transport';
import { DirectoryBundleStore, RenderWorker } from '@flotilla/workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REGION = 'als-worker';
const subjects = regionSubjects(REGION);

const APP = `
import { AsyncLocalStorage } from 'node:async_hooks';
const requests = new AsyncLocalStorage<{ id: string }>();
const seen = (): string => requests.getStore()?.id ?? 'none';
export default {
  fetch(request: Request): Promise<Response> {
    const q = new URL(request.url).searchParams;
    return requests.run({ id: q.get('id') ?? '' }, async () => {
      const out = [seen()];
      const answer = await fetch('backend://api/wait?ms=' + q.get('ms'));
      out.push(seen());
      await answer.text();
      out.push(seen());
      await Promise.all([fetch('backend://api/wait?ms=3'), new Promise((r) => setTimeout(r, 2))]);
      out.push(seen());
      return Response.json(out);
    });
  },
};
`;

let root: string;
let server: Server;
let transport: InProcessTransport;
let worker: RenderWorker;

beforeAll(async () => {
  server = createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms')) || 0;
    setTimeout(() => res.end('ok'), ms);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  root = await mkdtemp(join(tmpdir(), 'flotilla-als-worker-'));
  const project = join(root, 'project');
  await mkdir(join(project, 'src'), { recursive: true });
  await writeFile(join(project, 'src', 'app.ts'), APP);
  await writeFile(
    join(project, 'flotilla.config.json'),
    JSON.stringify({
      name: 'als-app',
      entry: 'src/app.ts',
      framework: 'none',
      backends: { api: origin },
    }),
  );
  // The deployment directory the worker's store reads: <root>/deployments/als-app.
  await buildProject({ dir: project, outDir: join(root, 'deployments', 'als-app') });
  transport = new InProcessTransport();
  worker = new RenderWorker({
    transport,
    region: REGION,
    bundles: new DirectoryBundleStore(join(root, 'deployments')),
    workerId: 'w-als',
    threads: 1,
    tasksPerThread: 16,
  });
  await worker.start();
}, 60_000);

afterAll(async () => {
  await worker?.drain();
  await new Promise((resolve) => server?.close(resolve));
  await rm(root, { recursive: true, force: true });
});

function render(id: string, ms: number): Promise<RenderResult> {
  return transport
    .request(
      subjects.workerRender('w-als'),
      encodeRenderRequest({
        deploymentId: 'als-app',
        method: 'GET',
        url: `http://als.test/?id=${id}&ms=${ms}`,
        headers: [],
        body: new Uint8Array(0),
        deadline: Date.now() + 10_000,
        traceparent: '',
        requestId: `req-${id}`,
        attempt: 1,
      }),
      { timeoutMs: 10_000 },
    )
    .then(decodeRenderResult);
}

describe('AsyncLocalStorage in a built app served by a worker', () => {
  it('gives each of 12 concurrent requests on one thread only its own store', async () => {
    // Later requests wait less on the backend: their answers overtake the earlier ones'.
    const ids = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const results = await Promise.all(ids.map((id, i) => render(id, 40 - i * 3)));
    for (const [i, result] of results.entries()) {
      if (!result.ok) throw new Error(`${ids[i]}: ${result.error.code} ${result.error.message}`);
      expect(JSON.parse(new TextDecoder().decode(result.body))).toEqual(Array(4).fill(ids[i]));
    }
  }, 60_000);
});
