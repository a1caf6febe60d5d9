/**
 * The React Router row of `ssr-throughput`: the listing page `/` of
 * `examples/react-router-shop` (React Router 8, framework mode; its loader
 * fetches 24 products from the products API on every render), built once
 * with `flotilla build` (which runs the app's own `react-router build`), then
 *
 * - **sandbox**: the bundle rendered through the worker path of the other
 *   rows' `c=1` (InProcessTransport → RenderWorker → piscina thread →
 *   isolated-vm isolate), one render at a time;
 * - **node**: the same React Router build (`build/server/index.js`) on its
 *   own Node server, `react-router-serve` (Express), one keep-alive HTTP
 *   request at a time over loopback.
 *
 * Both fetch from the same products API process. The Node side also pays
 * for HTTP (parsing, Express, the socket), which the sandbox side reaches
 * without: the shield pays for that in the fleet. CPU per render counts the
 * server process (node) and this whole process (sandbox: transport, worker,
 * thread and isolate).
 *
 * Run alone: node bench/src/react-router-row.ts (starts its own products API).
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
  runRowAlone,
  startNodeServer,
} from './framework-row.ts';
import { round } from './stats.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/react-router-shop/', import.meta.url));
const SERVER = 'react-router-serve';

/** Options of {@link reactRouterRow}. */
export type ReactRouterRowOptions = FrameworkRowOptions;

/**
 * What {@link reactRouterRow} measured. `sameHtml`: both sides answered the
 * same HTML, but for the ScrollRestoration script (the source of a function,
 * minified in the bundle). `ratio`: sandbox renders/s ÷ react-router-serve
 * renders/s.
 */
export type ReactRouterRow = FrameworkRow;

/** The HTML without inline scripts that are a function's source (`<script>((a, b) => …)(…)</script>`). */
const withoutFunctionSource = (html: string): string =>
  html.replace(/<script>\(\([\s\S]*?<\/script>/g, '<script/>');

/**
 * Builds the example and measures both sides (see the module documentation),
 * in alternating slices so that other load on the machine weighs on both alike.
 */
export function reactRouterRow(options: ReactRouterRowOptions): Promise<ReactRouterRow> {
  return frameworkRow(
    {
      example: EXAMPLE,
      app: 'react-router-shop',
      region: 'bench-rr',
      workerId: 'bench-react-router',
      tmpPrefix: 'flotilla-bench-rr-',
      serverName: SERVER,
      // `react-router-serve build/server/index.js` on a free port.
      startServer: (_dir, apiUrl) =>
        startNodeServer({
          name: SERVER,
          command: join(EXAMPLE, 'node_modules', '.bin', 'react-router-serve'),
          args: ['./build/server/index.js'],
          cwd: EXAMPLE,
          // The .bin shim runs `node`: this Node.
          env: (port) => ({
            ...process.env,
            PATH: pathWithThisNode(),
            NODE_ENV: 'production',
            PORT: String(port),
            HOST: '127.0.0.1',
            API_ORIGIN: apiUrl,
          }),
          ready: '[react-router-serve]',
        }),
      comparable: withoutFunctionSource,
    },
    options,
  );
}

/** Prints the row as the other rows of `ssr-throughput` are printed. */
export function printReactRouterRow(r: ReactRouterRow): void {
  printFrameworkRow(r, {
    heading:
      `React Router (examples/react-router-shop, framework mode): page / (${r.htmlChars} chars of HTML, ` +
      `bundle ${round(r.bundleBytes / 1024, 1)} KB; its loader fetches 24 products from the products API on every render)`,
    nodeLabel: 'react-router-serve (Node, HTTP)',
    name: 'react-router',
  });
}

if (import.meta.main) {
  await runRowAlone({
    name: 'react-router',
    key: 'reactRouter',
    timeoutMs: 120_000,
    measure: reactRouterRow,
    print: printReactRouterRow,
  });
}
