/**
 * What the framework rows of `ssr-throughput` (React Router, SvelteKit,
 * Angular, Nuxt) share: building the example with `flotilla build` and
 * deploying it to a RenderWorker (the worker path of the other rows' `c=1`:
 * InProcessTransport → RenderWorker → piscina thread → isolated-vm isolate),
 * the framework's own Node server as a child process, the warm-up, the
 * alternating measured slices and the printed row. Each row module says only
 * what differs: how its Node side is built and started, and what of the HTML
 * may differ between the two sides.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
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
import { startProductsApiProcess } from './products-api-process.ts';
import { readBuiltBundle, writeDeployment } from './sandbox-app.ts';
import type { Side } from './ssr-figures.ts';
import { mean, now, p50p99, printResult, round, table } from './stats.ts';

/** Renders each side gets before it is measured (cold isolate, JIT, the framework's caches). */
const WARMUP = 200;
const decoder = new TextDecoder();

/** Options of a framework row. */
export interface FrameworkRowOptions {
  /** Origin of the products API both sides fetch from. */
  apiUrl: string;
  /** Measured seconds per side. @default 5 */
  seconds?: number;
  /** Slices each side's time is cut into, alternating with the other side's. @default 6 */
  slices?: number;
}

/** What a framework row measured. */
export interface FrameworkRow {
  page: string;
  bundleBytes: number;
  htmlChars: number;
  /** Both sides answered the same HTML, but for what the row's `comparable` takes out. */
  sameHtml: boolean;
  node: Side;
  sandbox: Side;
  /** Sandbox renders/s ÷ the framework's Node server renders/s. */
  ratio: number;
  /** Node CPU per render ÷ sandbox CPU per render. */
  cpuRatio: number;
}

/** The framework's own Node server, listening. */
export interface NodeServer {
  child: ChildProcess;
  /** The page's URL on it. */
  url: string;
}

/** What one framework row is made of. */
export interface FrameworkRowSpec {
  /** Absolute path of the example app (with a trailing slash). */
  example: string;
  /** The app's name (its host is `<app>.localhost`). */
  app: string;
  region: string;
  workerId: string;
  /** Prefix of the temporary directory. */
  tmpPrefix: string;
  /** Runs before `flotilla build` (a build of the example for the Node side). */
  beforeBuild?: (dir: string) => Promise<void>;
  /** Starts the Node side (after the worker started); `dir` is the row's temporary directory. */
  startServer: (dir: string, apiUrl: string) => Promise<NodeServer>;
  /** The Node server's name in errors (`… answered 500`). */
  serverName: string;
  /** The HTML with what may differ between the two sides taken out. */
  comparable: (html: string) => string;
}

/** How a framework row is printed. */
export interface FrameworkRowPrint {
  /** The line above the table. */
  heading: string;
  /** The Node side's label in the table. */
  nodeLabel: string;
  /** The row's short name on the ratio line. */
  name: string;
}

/** Renders timed in one slice. */
export interface Timed {
  count: number;
  ms: number;
  cpuMs: number;
  latencies: number[];
}

/** Calls `once` one at a time for `ms`, with the CPU `cpu()` counted meanwhile. */
export async function timed(
  ms: number,
  once: () => Promise<unknown>,
  cpu: () => number,
): Promise<Timed> {
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

/** One side's figures from its timed slices. */
export function summarize(runs: Timed[]): Side {
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

/** `PATH` with this Node's directory first, so that `.bin` shims (which run `node`) run this Node. */
export const pathWithThisNode = (): string =>
  `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`;

/** Runs a build command to its end; throws with its output when it fails. */
export async function runBuild(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<void> {
  const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => {
    output += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    output += d;
  });
  const code = await new Promise((resolve) => child.once('close', resolve));
  if (code !== 0) throw new Error(`${name} exited ${code}:\n${output}`);
}

/** Options of {@link startNodeServer}. */
export interface StartNodeServerOptions {
  /** The server's name in errors. */
  name: string;
  command: string;
  args: string[];
  cwd: string;
  /** The server's environment, given the free port it is to listen on. */
  env: (port: number) => NodeJS.ProcessEnv;
  /** Seen in its output once it listens. */
  ready: string | RegExp;
}

/** Starts a server on a free port; resolves once its output says it listens. */
export async function startNodeServer(options: StartNodeServerOptions): Promise<NodeServer> {
  const port = await freePort();
  const child = spawn(options.command, options.args, {
    cwd: options.cwd,
    env: options.env(port),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { ready, name } = options;
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start:\n${output}`)), 30_000);
    const onData = (d: Buffer) => {
      output += d;
      if (typeof ready === 'string' ? output.includes(ready) : ready.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited ${code}:\n${output}`));
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return { child, url: `http://127.0.0.1:${port}/` };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** GET `url` on a keep-alive agent; resolves with the body (status 200 only). */
function httpGetText(agent: Agent, url: string, serverName: string): Promise<string> {
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
          : reject(new Error(`${serverName} answered ${res.statusCode}`)),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** One render of `/` through the worker path (what the shield's miss reaches). */
async function renderInSandbox(
  transport: InProcessTransport,
  subject: string,
  deploymentId: string,
  app: string,
): Promise<string> {
  const reply = await transport.request(
    subject,
    encodeRenderRequest({
      deploymentId,
      method: 'GET',
      url: `http://${app}.localhost/`,
      headers: [['host', `${app}.localhost`]],
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
 * Builds the example and measures both sides of page `/`, in alternating
 * slices so that other load on the machine weighs on both alike.
 */
export async function frameworkRow(
  spec: FrameworkRowSpec,
  options: FrameworkRowOptions,
): Promise<FrameworkRow> {
  const seconds = options.seconds ?? 5;
  const slices = options.slices ?? 6;
  const dir = await mkdtemp(join(tmpdir(), spec.tmpPrefix));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    await spec.beforeBuild?.(dir);
    const built = await buildProject({ dir: spec.example, outDir: join(dir, 'build') });
    const bundle = await readBuiltBundle(built.bundlePath, built.manifest);
    const deploymentId = `${spec.app}-bench`;
    await writeDeployment(join(dir, 'deployments'), deploymentId, spec.app, bundle, {
      api: options.apiUrl,
    });

    const transport = new InProcessTransport();
    const worker = new RenderWorker({
      transport,
      region: spec.region,
      bundles: new DirectoryBundleStore(join(dir, 'deployments')),
      workerId: spec.workerId,
      threads: 1,
      tasksPerThread: 1,
    });
    await worker.start();
    let serve: NodeServer | undefined;
    try {
      serve = await spec.startServer(dir, options.apiUrl);
      const { child, url } = serve;
      const subject = regionSubjects(spec.region).workerRender(worker.workerId);
      const sandbox = () => renderInSandbox(transport, subject, deploymentId, spec.app);
      const node = () => httpGetText(agent, url, spec.serverName);
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
      const serverCpu = () => processCpuMs(child.pid ?? -1);
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
        sameHtml: spec.comparable(sandboxHtml) === spec.comparable(nodeHtml),
        node: nodeSide,
        sandbox: sandboxSide,
        ratio: round(sandboxSide.rps / nodeSide.rps, 3),
        cpuRatio: round(nodeSide.cpuMsPerRender / sandboxSide.cpuMsPerRender, 3),
      };
    } finally {
      if (serve) await stopServer(serve.child);
      await worker.drain();
      await transport.drain();
    }
  } finally {
    agent.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Prints a framework row as the other rows of `ssr-throughput` are printed. */
export function printFrameworkRow(r: FrameworkRow, print: FrameworkRowPrint): void {
  console.log('');
  console.log(print.heading);
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
      line(print.nodeLabel, r.node),
      line('sandbox c=1 (worker path)', r.sandbox),
    ]),
  );
  console.log(
    `  ${print.name} ratio sandbox/node ${r.ratio}, CPU/render ${r.cpuRatio}; same HTML: ${r.sameHtml}`,
  );
}

/** Options of {@link runRowAlone}. */
export interface RunRowAloneOptions {
  /** The row's name (`<name>-row`) for the hard timeout. */
  name: string;
  /** Key of the row in the printed RESULT. */
  key: string;
  timeoutMs: number;
  measure: (options: FrameworkRowOptions) => Promise<FrameworkRow>;
  print: (row: FrameworkRow) => void;
}

/** Runs one row alone (`node bench/src/<name>-row.ts`) with its own products API. */
export async function runRowAlone(options: RunRowAloneOptions): Promise<void> {
  hardTimeout(`${options.name}-row`, options.timeoutMs);
  // A process of its own, as in ssr-throughput: the sandbox side's CPU is
  // this whole process's, which must not include the API serving both sides.
  const api = await startProductsApiProcess();
  try {
    const row = await options.measure({
      apiUrl: api.url,
      seconds: Number(process.env.BENCH_SSR_SECONDS) || 5,
    });
    options.print(row);
    printResult({ bench: 'ssr-throughput', [options.key]: row, ratio: row.ratio });
  } finally {
    await api.child.kill('SIGTERM');
  }
}
