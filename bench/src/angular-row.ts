/**
 * The Angular row of `ssr-throughput`: the listing page `/` of
 * `examples/angular-shop` (Angular 22 SSR; its route resolver fetches 24
 * products from the products API on every render), built once with
 * `flotilla build` (which runs the app's own Angular build with Flotilla's
 * options), then
 *
 * - **sandbox**: the bundle rendered through the worker path of the other
 *   rows' `c=1` (InProcessTransport → RenderWorker → piscina thread →
 *   isolated-vm isolate), one render at a time;
 * - **node**: the same app built by `ng build` as its developer builds it
 *   (Node platform, into a temporary directory) on Angular's own Node
 *   server, the Express `server.mjs` of `ng new --ssr`
 *   (`AngularNodeAppEngine`), one keep-alive HTTP request at a time over
 *   loopback.
 *
 * Both fetch from the same products API process. The Node side also pays
 * for HTTP (parsing, Express, the socket), which the sandbox side reaches
 * without: the shield pays for that in the fleet. CPU per render counts the
 * server process (node) and this whole process (sandbox: transport, worker,
 * thread and isolate).
 *
 * Run alone: node bench/src/angular-row.ts (starts its own products API process).
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

const EXAMPLE = fileURLToPath(new URL('../../examples/angular-shop/', import.meta.url));
const SERVER = "Angular's Node server";

/** Options of {@link angularRow}. */
export type AngularRowOptions = FrameworkRowOptions;

/**
 * What {@link angularRow} measured. `sameHtml`: both sides answered the same
 * HTML but for the transfer state (keyed by the URL each fetched). `ratio`:
 * sandbox renders/s ÷ Angular's Node server renders/s.
 */
export type AngularRow = FrameworkRow;

/** `ng build` of the example as its developer runs it (Node platform) into `outDir`. */
function ngBuild(outDir: string): Promise<void> {
  return runBuild(
    'ng build',
    join(EXAMPLE, 'node_modules', '.bin', 'ng'),
    ['build', '--output-path', outDir, '--progress=false'],
    {
      cwd: EXAMPLE,
      env: { ...process.env, PATH: pathWithThisNode(), NG_CLI_ANALYTICS: 'false' },
    },
  );
}

/**
 * The HTML without the transfer state (`<script id="ng-state">`): HttpClient's
 * transfer cache keys it by the URL fetched, `backend://api/…` in the
 * sandbox and the API's origin on Node.
 */
const withoutTransferState = (html: string): string =>
  html.replace(/<script id="ng-state" type="application\/json">[\s\S]*?<\/script>/, '<script/>');

/**
 * Builds the example and measures both sides (see the module documentation),
 * in alternating slices so that other load on the machine weighs on both alike.
 */
export function angularRow(options: AngularRowOptions): Promise<AngularRow> {
  return frameworkRow(
    {
      example: EXAMPLE,
      app: 'angular-shop',
      region: 'bench-ng',
      workerId: 'bench-angular',
      tmpPrefix: 'flotilla-bench-ng-',
      serverName: SERVER,
      // Angular's Node server (`server/server.mjs` of the `ng build`) on a free port.
      startServer: async (dir, apiUrl) => {
        const outDir = join(dir, 'node');
        await ngBuild(outDir);
        return startNodeServer({
          name: SERVER,
          command: process.execPath,
          args: [join(outDir, 'server', 'server.mjs')],
          cwd: EXAMPLE,
          env: (port) => ({
            ...process.env,
            NODE_ENV: 'production',
            PORT: String(port),
            API_ORIGIN: apiUrl,
            // AngularNodeAppEngine answers only hosts it is told about.
            NG_ALLOWED_HOSTS: '127.0.0.1',
          }),
          ready: 'listening on',
        });
      },
      comparable: withoutTransferState,
    },
    options,
  );
}

/** Prints the row as the other rows of `ssr-throughput` are printed. */
export function printAngularRow(r: AngularRow): void {
  printFrameworkRow(r, {
    heading:
      `Angular (examples/angular-shop, Angular 22 SSR): page / (${r.htmlChars} chars of HTML, ` +
      `bundle ${round(r.bundleBytes / 1024, 1)} KB; its resolver fetches 24 products from the products API on every render)`,
    nodeLabel: 'Angular Node server (Express, HTTP)',
    name: 'angular',
  });
}

if (import.meta.main) {
  await runRowAlone({
    name: 'angular',
    key: 'angular',
    timeoutMs: 240_000,
    // A process of its own, as in ssr-throughput: serving it takes no CPU from either side's count.
    measure: angularRow,
    print: printAngularRow,
  });
}
