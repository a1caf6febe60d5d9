/**
 * The SvelteKit row of `ssr-throughput`: the listing page `/` of
 * `examples/sveltekit-shop` (SvelteKit 2, made with `sv create`; its server
 * load fetches 24 products from the products API on every render), built
 * with `flotilla build` (the app's own `vite build` with Flotilla's
 * adapter) and with the app's own `vite build` (its adapter, adapter-node),
 * then
 *
 * - **sandbox**: the bundle rendered through the worker path of the other
 *   rows' `c=1` (InProcessTransport → RenderWorker → piscina thread →
 *   isolated-vm isolate), one render at a time;
 * - **node**: the same app on adapter-node's own server (`node build`,
 *   Node's http), one keep-alive HTTP request at a time over loopback.
 *
 * Both fetch from the same products API process. The Node side also pays
 * for HTTP (parsing, the socket), which the sandbox side reaches without:
 * the shield pays for that in the fleet. CPU per render counts the server
 * process (node) and this whole process (sandbox: transport, worker, thread
 * and isolate).
 *
 * Run alone: node bench/src/sveltekit-row.ts (starts its own products API).
 *
 * The shared steps are in `framework-row.ts`.
 *
 * @module
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type FrameworkRow,
  type FrameworkRowOptions,
  frameworkRow,
  pathWithThisNode,
  printFrameworkRow,
  runBuild,
  runRowAlone,
  startNodeServer,
} from './framework-row.ts';
import { round } from './stats.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/sveltekit-shop/', import.meta.url));
const APP = 'sveltekit-shop';
const SERVER = 'node build';

/** Options of {@link svelteKitRow}. */
export type SvelteKitRowOptions = FrameworkRowOptions;

/**
 * What {@link svelteKitRow} measured. `sameHtml`: both sides answered the
 * same HTML, but for SvelteKit's version hash (each build has its own, and
 * there are two builds here). `ratio`: sandbox renders/s ÷ adapter-node
 * renders/s.
 */
export type SvelteKitRow = FrameworkRow;

/** The app's own `vite build` (adapter-node, into `build/`), as `npm run build` runs it. */
function buildForNode(): Promise<void> {
  return runBuild(
    'vite build (adapter-node)',
    join(EXAMPLE, 'node_modules', '.bin', 'vite'),
    ['build'],
    {
      cwd: EXAMPLE,
      env: { ...process.env, PATH: pathWithThisNode(), NODE_ENV: 'production' },
    },
  );
}

/**
 * The HTML without what differs between two builds of the same app:
 * SvelteKit's version hash (`__sveltekit_<hash>`) and the names of the
 * entry scripts, which hold it.
 */
const withoutVersion = (html: string): string =>
  html
    .replace(/__sveltekit_[a-z0-9]+/g, '__sveltekit_')
    .replace(/(_app\/immutable\/entry\/\w+)\.[\w-]+\.js/g, '$1.js');

/**
 * Builds the example and measures both sides (see the module documentation),
 * in alternating slices so that other load on the machine weighs on both alike.
 */
export function svelteKitRow(options: SvelteKitRowOptions): Promise<SvelteKitRow> {
  return frameworkRow(
    {
      example: EXAMPLE,
      app: APP,
      region: 'bench-sveltekit',
      workerId: 'bench-sveltekit',
      tmpPrefix: 'flotilla-bench-sveltekit-',
      beforeBuild: buildForNode,
      serverName: SERVER,
      // adapter-node's server (`node build`) on a free port.
      startServer: (_dir, apiUrl) =>
        startNodeServer({
          name: SERVER,
          command: process.execPath,
          args: ['build'],
          cwd: EXAMPLE,
          env: (port) => ({
            ...process.env,
            NODE_ENV: 'production',
            PORT: String(port),
            HOST: '127.0.0.1',
            ORIGIN: `http://${APP}.localhost`,
            API_ORIGIN: apiUrl,
          }),
          ready: 'Listening on',
        }),
      comparable: withoutVersion,
    },
    options,
  );
}

/** Prints the row as the other rows of `ssr-throughput` are printed. */
export function printSvelteKitRow(r: SvelteKitRow): void {
  printFrameworkRow(r, {
    heading:
      `SvelteKit (examples/sveltekit-shop): page / (${r.htmlChars} chars of HTML, ` +
      `bundle ${round(r.bundleBytes / 1024, 1)} KB; its server load fetches 24 products from the products API on every render)`,
    nodeLabel: 'adapter-node (Node, HTTP)',
    name: 'sveltekit',
  });
}

if (import.meta.main) {
  await runRowAlone({
    name: 'sveltekit',
    key: 'sveltekit',
    timeoutMs: 120_000,
    measure: svelteKitRow,
    print: printSvelteKitRow,
  });
}
