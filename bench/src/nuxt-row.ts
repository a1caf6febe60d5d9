/**
 * The Nuxt row of `ssr-throughput`: the listing page `/` of
 * `examples/nuxt-shop` (Nuxt 4.6; its `useFetch('/api/products')` calls the
 * app's server route in-process, which fetches 24 products from the products
 * API on every render), built twice from the same sources:
 *
 * - **sandbox**: `flotilla build` (Nuxt's build with Flotilla's Nitro
 *   preset), the bundle rendered through the worker path of the other rows'
 *   `c=1` (InProcessTransport → RenderWorker → piscina thread → isolated-vm
 *   isolate), one render at a time;
 * - **node**: Nuxt's own `node-server` preset (`.output/server/index.mjs`,
 *   Nitro's Node server), one keep-alive HTTP request at a time over loopback.
 *
 * Both builds keep nothing in Nitro's cache storage (unstorage's `null`
 * driver, as `flotilla build` sets it), so the page's `swr` rule does not
 * turn the node side into a cache: both sides render every time, as the
 * fleet does behind the shield. Both fetch from the same products API
 * process. The Node side also pays for HTTP (parsing, the socket), which the
 * sandbox side reaches without: the shield pays for that in the fleet. CPU
 * per render counts the server process (node) and this whole process
 * (sandbox: transport, worker, thread and isolate).
 *
 * Run alone: node bench/src/nuxt-row.ts (starts its own products API).
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
import { processCpuMs } from './proc-stat.ts';
import { readBuiltBundle, writeDeployment } from './sandbox-app.ts';
import type { Side } from './ssr-figures.ts';
import { mean, now, p50p99, printResult, round, table } from './stats.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/nuxt-shop/', import.meta.url));
const APP = 'nuxt-shop';
const REGION = 'bench-nuxt';
/** Renders each side gets before it is measured (cold isolate, JIT, Nuxt's caches). */
const WARMUP = 200;
const decoder = new TextDecoder();

/** Options of {@link nuxtRow}. */
export interface NuxtRowOptions {
  /** Origin of the products API both sides fetch from. */
  apiUrl: string;
  /** Measured seconds per side. @default 5 */
  seconds?: number;
  /** Slices each side's time is cut into, alternating with the other side's. @default 6 */
  slices?: number;
}

/** What {@link nuxtRow} measured. */
export interface NuxtRow {
  page: string;
  bundleBytes: number;
  htmlChars: number;
  /** Both sides answered the same HTML, but for each build's id and chunk names. */
  sameHtml: boolean;
  node: Side;
  sandbox: Side;
  /** Sandbox renders/s ÷ Nuxt node-server renders/s. */
  ratio: number;
  /** Node CPU per render ÷ sandbox CPU per render. */
  cpuRatio: number;
}

interface Timed {
  count: number;
  ms: number;
  cpuMs: number;
  latencies: number[];
}

/** Calls `once` one at a time for `ms`, with the CPU `cpu()` counted meanwhile. */
async function timed(ms: number, once: () => Promise<unknown>, cpu: () => number): Promise<Timed> {
  const latencies: number[] = [];
  const cpuBefore = cpu();
  const started = now();
  while (now() - started < ms) {
    const t = now();
    await once();
    latencies.push(now() - t);
  }
  return { count: latencies.length, ms: now() - started, cpuMs: cpu() - cpuBefore, latencies };
}

function summarize(runs: Timed[]): Side {
  const count = runs.reduce((n, r) => n + r.count, 0);
  const latencies = runs.flatMap((r) => r.latencies);
  return {
    rps: round((count / runs.reduce((n, r) => n + r.ms, 0)) * 1000, 1),
    cpuMsPerRender: round(runs.reduce((n, r) => n + r.cpuMs, 0) / count, 3),
    ...p50p99(latencies),
    mean: round(mean(latencies), 3),
    renders: count,
  };
}

/** Nuxt's build of the example with the `node-server` preset into `outDir`, Nitro's cache storing nothing. */
async function buildNodeServer(outDir: string): Promise<string> {
  const work = join(EXAMPLE, '.flotilla');
  await mkdir(work, { recursive: true });
  const script = join(work, `bench-node-server-${randomUUID()}.mjs`);
  await writeFile(
    script,
    [
      "const kit = await import('nuxt/kit');",
      `const nuxt = await kit.loadNuxt({ cwd: ${JSON.stringify(EXAMPLE)}, dev: false, overrides: {`,
      `  nitro: { preset: 'node-server', output: { dir: ${JSON.stringify(outDir)} } },`,
      "  hooks: { 'nitro:config'(c) { c.storage = { ...c.storage, cache: { driver: 'null' } }; } },",
      '} });',
      'await kit.buildNuxt(nuxt);',
      'await nuxt.close();',
      '',
    ].join('\n'),
  );
  try {
    const child = spawn(process.execPath, [script], {
      cwd: EXAMPLE,
      env: { ...process.env, NODE_ENV: 'production' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      output += d;
    });
    child.stderr?.on('data', (d: Buffer) => {
      output += d;
    });
    const code = await new Promise((resolve) => child.once('close', resolve));
    if (code !== 0) throw new Error(`nuxt build (node-server) exited ${code}:\n${output}`);
  } finally {
    await rm(script, { force: true });
  }
  return join(outDir, 'server', 'index.mjs');
}

/** Nitro's Node server (`node .output/server/index.mjs`) on a free port; resolves once it listens. */
async function startServe(
  entry: string,
  apiUrl: string,
): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    cwd: EXAMPLE,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      NITRO_HOST: '127.0.0.1',
      API_ORIGIN: apiUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Nuxt's node-server did not start:\n${output}`)),
      30_000,
    );
    const onData = (d: Buffer) => {
      output += d;
      if (/Listening on/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Nuxt's node-server exited ${code}:\n${output}`));
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
          : reject(new Error(`Nuxt's node-server answered ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The HTML without what differs between two builds of the same sources: build ids, chunk names. */
const withoutBuildIds = (html: string): string =>
  html
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<build>')
    .replace(/\/_nuxt\/[\w.-]+/g, '/_nuxt/<chunk>');

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
export async function nuxtRow(options: NuxtRowOptions): Promise<NuxtRow> {
  const seconds = options.seconds ?? 5;
  const slices = options.slices ?? 6;
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-nuxt-'));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const built = await buildProject({ dir: EXAMPLE, outDir: join(dir, 'build') });
    const nodeEntry = await buildNodeServer(join(dir, 'node-server'));
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
      workerId: 'bench-nuxt',
      threads: 1,
      tasksPerThread: 1,
    });
    await worker.start();
    const serve = await startServe(nodeEntry, options.apiUrl);
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
        sameHtml: withoutBuildIds(sandboxHtml) === withoutBuildIds(nodeHtml),
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
export function printNuxtRow(r: NuxtRow): void {
  console.log('');
  console.log(
    `Nuxt (examples/nuxt-shop): page / (${r.htmlChars} chars of HTML, bundle ${round(r.bundleBytes / 1024, 1)} KB; ` +
      'its server route fetches 24 products from the products API on every render)',
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
      line('Nuxt node-server (Node, HTTP)', r.node),
      line('sandbox c=1 (worker path)', r.sandbox),
    ]),
  );
  console.log(
    `  nuxt ratio sandbox/node ${r.ratio}, CPU/render ${r.cpuRatio}; same HTML: ${r.sameHtml}`,
  );
}

if (import.meta.main) {
  hardTimeout('nuxt-row', 240_000);
  const api = await startProductsApi({ port: 0 });
  try {
    const row = await nuxtRow({
      apiUrl: api.url,
      seconds: Number(process.env.BENCH_SSR_SECONDS) || 5,
    });
    printNuxtRow(row);
    printResult({ bench: 'ssr-throughput', nuxt: row, ratio: row.ratio });
  } finally {
    await api.close();
  }
}
