/**
 * The Next.js row of `ssr-throughput`: the listing page `/` of
 * `examples/next-shop` (Next.js 16, App Router, `runtime = 'edge'`; the page
 * fetches 24 products from the products API on every render), built once
 * with `flotilla build` (which runs the app's own `next build`), then
 *
 * - **sandbox**: the bundle rendered through the worker path of the other
 *   rows' `c=1` (InProcessTransport → RenderWorker → piscina thread →
 *   isolated-vm isolate), one render at a time;
 * - **node**: the same Next build (`.next/`) on Next's own server,
 *   `next start`, one keep-alive HTTP request at a time over loopback.
 *
 * Both fetch from the same products API process. The Node side also pays
 * for HTTP (parsing, Next's router, the socket), which the sandbox side
 * reaches without: the shield pays for that in the fleet. CPU per render
 * counts the server process (node) and this whole process (sandbox:
 * transport, worker, thread and isolate).
 *
 * Run alone: node bench/src/next-row.ts (starts its own products API).
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProductsApi } from '@flotilla/example-products-api';
import {
  decodeRenderResult,
  encodeRenderRequest,
  nextTraceparent,
  regionSubjects,
} from '@flotilla/protocol';
import { buildProject } from '@flotilla/sdk/build';
import { freePort } from '@flotilla/test-harness';
import { InProcessTransport } from '@flotilla/transport';
import { DirectoryBundleStore, RenderWorker } from '@flotilla/workers';
import { hardTimeout } from './bench-process.ts';
import { summarize, type Timed, timed } from './framework-row.ts';
import { processCpuMs } from './proc-stat.ts';
import { readBuiltBundle, writeDeployment } from './sandbox-app.ts';
import type { Side } from './ssr-figures.ts';
import { printResult, round, table } from './stats.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/next-shop/', import.meta.url));
const APP = 'next-shop';
const REGION = 'bench-next';
/** Renders each side gets before it is measured (cold isolate, JIT, Next's caches). */
const WARMUP = 200;
const decoder = new TextDecoder();

/** Options of {@link nextRow}. */
export interface NextRowOptions {
  /** Origin of the products API both sides fetch from. */
  apiUrl: string;
  /** Measured seconds per side. @default 5 */
  seconds?: number;
  /** Slices each side's time is cut into, alternating with the other side's. @default 6 */
  slices?: number;
}

/** What {@link nextRow} measured. */
export interface NextRow {
  page: string;
  bundleBytes: number;
  htmlChars: number;
  /** Both sides listed the same products. */
  sameProducts: boolean;
  node: Side;
  sandbox: Side;
  /** Sandbox renders/s ÷ `next start` renders/s. */
  ratio: number;
  /** Node CPU per render ÷ sandbox CPU per render. */
  cpuRatio: number;
}

/** `next start` of the example's build on a free port; resolves once it is ready. */
async function startServe(apiUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(
    join(EXAMPLE, 'node_modules', '.bin', 'next'),
    ['start', '--port', String(port), '--hostname', '127.0.0.1'],
    {
      cwd: EXAMPLE,
      // The .bin shim runs `node`: this Node.
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        API_ORIGIN: apiUrl,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`next start did not start:\n${output}`)),
      30_000,
    );
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes('Ready in')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`next start exited ${code}:\n${output}`));
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return { child, url: `http://127.0.0.1:${port}/` };
}

async function stopServe(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** GET `url` on a keep-alive agent; resolves with the body (status 200 only). */
function httpGetText(agent: Agent, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () =>
        res.statusCode === 200
          ? resolve(body)
          : reject(new Error(`next start answered ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The product names a listing shows, in order. */
const productNames = (html: string): string[] =>
  [...html.matchAll(/<h2><a href="\/p\/\d+">([^<]*)<\/a><\/h2>/g)].map((m) => m[1] ?? '');

/** One render of `/` through the worker path (what the shield's miss reaches). */
async function renderInSandbox(
  transport: InProcessTransport,
  subject: string,
  deploymentId: string,
): Promise<string> {
  const reply = await transport.request(
    subject,
    encodeRenderRequest({
      deploymentId,
      method: 'GET',
      url: `http://${APP}.localhost/`,
      headers: [['host', `${APP}.localhost`]],
      body: new Uint8Array(0),
      deadline: Date.now() + 10_000,
      traceparent: nextTraceparent(),
      requestId: randomUUID(),
      attempt: 1,
    }),
    { timeoutMs: 10_000 },
  );
  const result = decodeRenderResult(reply);
  if (!result.ok)
    throw new Error(`sandbox render failed: ${result.error.code} ${result.error.message}`);
  if (result.status !== 200) throw new Error(`sandbox render: status ${result.status}`);
  return decoder.decode(result.body);
}

/**
 * Builds the example and measures both sides (see the module documentation),
 * in alternating slices so that other load on the machine weighs on both alike.
 */
export async function nextRow(options: NextRowOptions): Promise<NextRow> {
  const seconds = options.seconds ?? 5;
  const slices = options.slices ?? 6;
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-next-'));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const built = await buildProject({ dir: EXAMPLE, outDir: join(dir, 'build') });
    const bundle = await readBuiltBundle(built.bundlePath, built.manifest);
    const deploymentId = `${APP}-bench`;
    await writeDeployment(join(dir, 'deployments'), deploymentId, APP, bundle, {
      api: options.apiUrl,
    });

    const transport = new InProcessTransport();
    const worker = new RenderWorker({
      transport,
      region: REGION,
      bundles: new DirectoryBundleStore(join(dir, 'deployments')),
      workerId: 'bench-next',
      threads: 1,
      tasksPerThread: 1,
    });
    await worker.start();
    const serve = await startServe(options.apiUrl);
    try {
      const subject = regionSubjects(REGION).workerRender(worker.workerId);
      const sandbox = () => renderInSandbox(transport, subject, deploymentId);
      const node = () => httpGetText(agent, serve.url);
      for (let i = 0; i < WARMUP; i++) {
        await sandbox();
        await node();
      }
      const sandboxHtml = await sandbox();
      const nodeHtml = await node();
      const ms = (seconds * 1000) / slices;
      const selfCpu = () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1000;
      };
      const serverCpu = () => processCpuMs(serve.child.pid ?? -1);
      const n: Timed[] = [];
      const s: Timed[] = [];
      for (let i = 0; i < slices; i++) {
        const order = i % 2 === 0 ? ['node', 'sandbox'] : ['sandbox', 'node'];
        for (const which of order) {
          if (which === 'node') n.push(await timed(ms, node, serverCpu));
          else s.push(await timed(ms, sandbox, selfCpu));
        }
      }
      const nodeSide = summarize(n);
      const sandboxSide = summarize(s);
      return {
        page: '/',
        bundleBytes: bundle.bundleBytes,
        htmlChars: sandboxHtml.length,
        sameProducts:
          productNames(sandboxHtml).length === 24 &&
          productNames(sandboxHtml).join('\n') === productNames(nodeHtml).join('\n'),
        node: nodeSide,
        sandbox: sandboxSide,
        ratio: round(sandboxSide.rps / nodeSide.rps, 3),
        cpuRatio: round(nodeSide.cpuMsPerRender / sandboxSide.cpuMsPerRender, 3),
      };
    } finally {
      await stopServe(serve.child);
      await worker.drain();
      await transport.drain();
    }
  } finally {
    agent.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Prints the row as the other rows of `ssr-throughput` are printed. */
export function printNextRow(r: NextRow): void {
  console.log('');
  console.log(
    `Next.js (examples/next-shop, App Router, edge runtime): page / (${r.htmlChars} chars of HTML, ` +
      `bundle ${round(r.bundleBytes / 1024, 1)} KB; it fetches 24 products from the products API on every render)`,
  );
  const line = (name: string, x: Side) => [
    name,
    x.rps,
    x.p50,
    x.p99,
    x.mean,
    x.cpuMsPerRender,
    x.renders,
  ];
  console.log(
    table([
      ['side', 'renders/s', 'p50 ms', 'p99 ms', 'mean ms', 'CPU ms/render', 'renders'],
      line('next start (Node, HTTP)', r.node),
      line('sandbox c=1 (worker path)', r.sandbox),
    ]),
  );
  console.log(
    `  next ratio sandbox/node ${r.ratio}, CPU/render ${r.cpuRatio}; same products: ${r.sameProducts}`,
  );
}

if (import.meta.main) {
  hardTimeout('next-row', 180_000);
  const api = await startProductsApi({ port: 0 });
  try {
    const row = await nextRow({
      apiUrl: api.url,
      seconds: Number(process.env.BENCH_SSR_SECONDS) || 5,
    });
    printNextRow(row);
    printResult({ bench: 'ssr-throughput', next: row, ratio: row.ratio });
  } finally {
    await api.close();
  }
}
