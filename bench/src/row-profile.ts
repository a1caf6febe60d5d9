/**
 * Where a framework row's render time goes in the sandbox: builds the
 * example with `flotilla build`, loads it in a `DeploymentIsolate` on this
 * thread (the render path of a piscina thread, without the worker's
 * transport and thread hops), warms it up, then renders page `/` one at a
 * time while
 *
 * - V8's CPU profiler over the isolate's inspector (`DeploymentIsolate.profiler`) samples
 *   the guest: the framework, the prelude (URL, Headers, Response, streams,
 *   fetch, the async context), V8's garbage collector in the isolate;
 * - the inspector samples this thread: the host side (the bridge, backend
 *   fetch through undici, copies in and out of the isolate).
 *
 * It prints the CPU per render (this thread, the whole process, the
 * isolate's sampled busy time) and both profiles as ms per render. The
 * products API runs as a process of its own, so its work is not counted.
 *
 * Run: node --no-node-snapshot --max-semi-space-size=16
 * --initial-old-space-size=64 bench/src/row-profile.ts <sveltekit|angular|nuxt|react-router>
 * [renders] (`BENCH_PROFILE_TOP` rows per table, default 25;
 * `BENCH_PROFILE_BUNDLE=<file>` keeps the bundle there, to read the
 * functions the profile names by line and column).
 *
 * @module
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_LIMITS, DeploymentIsolate } from '@flotilla/runtime';
import { buildProject } from '@flotilla/sdk/build';
import { hardTimeout } from './bench-process.ts';
import { type CpuProfile, summarizeProfile } from './cpu-profile.ts';
import { startProductsApiProcess } from './products-api-process.ts';
import { round } from './stats.ts';

const EXAMPLES: Record<string, string> = {
  sveltekit: 'sveltekit-shop',
  angular: 'angular-shop',
  nuxt: 'nuxt-shop',
  'react-router': 'react-router-shop',
  next: 'next-shop',
};

/** Nothing is idle in an isolate's profile: `(program)` is V8 at work for it. */
const NO_IDLE: ReadonlySet<string> = new Set(['(idle)']);

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'sveltekit';
  const app = EXAMPLES[which];
  if (!app) throw new Error(`row-profile: one of ${Object.keys(EXAMPLES).join(', ')}`);
  const renders = Number(process.argv[3]) || 1000;
  const top = Number(process.env.BENCH_PROFILE_TOP) || 25;
  hardTimeout('row-profile', 170_000);
  const example = fileURLToPath(new URL(`../../examples/${app}/`, import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-profile-'));
  const api = await startProductsApiProcess();
  let iso: DeploymentIsolate | undefined;
  try {
    const built = await buildProject({ dir: example, outDir: join(dir, 'build') });
    const code = await readFile(built.bundlePath, 'utf8');
    // To read the functions the profile names (minified: line and column).
    if (process.env.BENCH_PROFILE_BUNDLE) await writeFile(process.env.BENCH_PROFILE_BUNDLE, code);
    iso = await DeploymentIsolate.load({
      deploymentId: `${app}-profile`,
      code,
      bundleHash: built.manifest.bundleHash,
      backends: { api: api.url },
      profiling: true,
      // The profilers' own work would count against the render's CPU limit.
      limits: { cpuMs: 60_000, wallMs: 60_000 },
      ceiling: { ...DEFAULT_LIMITS, cpuMs: 60_000, wallMs: 60_000 },
    });
    const loaded = iso;
    const render = async () => {
      const r = await loaded.render({
        method: 'GET',
        url: `http://${app}.localhost/`,
        headers: [['host', `${app}.localhost`]],
        body: null,
      });
      if (r.status !== 200) throw new Error(`render: status ${r.status}`);
      return r;
    };
    for (let i = 0; i < 300; i++) await render();

    // Plain measurement first: no profiler running.
    const t0 = process.threadCpuUsage();
    const p0 = process.cpuUsage();
    const w0 = performance.now();
    let reported = 0;
    for (let i = 0; i < renders; i++) reported += (await render()).cpuMs;
    const wall = (performance.now() - w0) / renders;
    const thread = cpuMs(process.threadCpuUsage(t0)) / renders;
    const proc = cpuMs(process.cpuUsage(p0)) / renders;
    console.log(
      `${which} (${app}): ${renders} renders of /, one at a time, no profiler: ` +
        `wall ${round(wall, 3)} ms/render, CPU this thread ${round(thread, 3)}, whole process ${round(proc, 3)}, ` +
        `render cpuMs reported ${round(reported / renders, 3)}`,
    );

    // One profiler at a time: the isolate's, then this thread's.
    const profiler = iso.profiler;
    if (!profiler) throw new Error('row-profile: the isolate has no profiler');
    await profiler.start(200);
    const ps = performance.now();
    for (let i = 0; i < renders; i++) await render();
    console.log(`profiled renders: ${round((performance.now() - ps) / renders, 3)} ms each`);
    const guest = await profiler.stop();
    console.log(`\nIsolate profile (inspector), per render of ${renders}:`);
    console.log(summarizeProfile(guest, top, undefined, renders, NO_IDLE));

    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 500 });
    await session.post('Profiler.start');
    for (let i = 0; i < renders; i++) await render();
    const { profile: host } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    session.disconnect();
    console.log(`\nHost thread profile (inspector), per render of ${renders}:`);
    console.log(summarizeProfile(host, top, undefined, renders));
  } finally {
    iso?.dispose();
    await api.child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) await main();
