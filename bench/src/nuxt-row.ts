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
 * The shared steps are in `framework-row.ts`.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type FrameworkRow,
  type FrameworkRowOptions,
  frameworkRow,
  printFrameworkRow,
  runBuild,
  runRowAlone,
  startNodeServer,
} from './framework-row.ts';
import { round } from './stats.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/nuxt-shop/', import.meta.url));
const SERVER = "Nuxt's node-server";

/** Options of {@link nuxtRow}. */
export type NuxtRowOptions = FrameworkRowOptions;

/**
 * What {@link nuxtRow} measured. `sameHtml`: both sides answered the same
 * HTML, but for each build's id and chunk names. `ratio`: sandbox renders/s
 * ÷ Nuxt node-server renders/s.
 */
export type NuxtRow = FrameworkRow;

/** Nuxt's build of the example with the `node-server` preset into `outDir`, Nitro's cache storing nothing. */
async function buildNodeServer(outDir: string): Promise<void> {
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
    await runBuild('nuxt build (node-server)', process.execPath, [script], {
      cwd: EXAMPLE,
      env: { ...process.env, NODE_ENV: 'production' },
    });
  } finally {
    await rm(script, { force: true });
  }
}

/** The HTML without what differs between two builds of the same sources: build ids, chunk names. */
const withoutBuildIds = (html: string): string =>
  html
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<build>')
    .replace(/\/_nuxt\/[\w.-]+/g, '/_nuxt/<chunk>');

/**
 * Builds the example and measures both sides (see the module documentation),
 * in alternating slices so that other load on the machine weighs on both alike.
 */
export function nuxtRow(options: NuxtRowOptions): Promise<NuxtRow> {
  const nodeServer = (dir: string) => join(dir, 'node-server');
  return frameworkRow(
    {
      example: EXAMPLE,
      app: 'nuxt-shop',
      region: 'bench-nuxt',
      workerId: 'bench-nuxt',
      tmpPrefix: 'flotilla-bench-nuxt-',
      beforeBuild: (dir) => buildNodeServer(nodeServer(dir)),
      serverName: SERVER,
      // Nitro's Node server (`node .output/server/index.mjs`) on a free port.
      startServer: (dir, apiUrl) =>
        startNodeServer({
          name: SERVER,
          command: process.execPath,
          args: [join(nodeServer(dir), 'server', 'index.mjs')],
          cwd: EXAMPLE,
          env: (port) => ({
            ...process.env,
            NODE_ENV: 'production',
            PORT: String(port),
            HOST: '127.0.0.1',
            NITRO_HOST: '127.0.0.1',
            API_ORIGIN: apiUrl,
          }),
          ready: /Listening on/,
        }),
      comparable: withoutBuildIds,
    },
    options,
  );
}

/** Prints the row as the other rows of `ssr-throughput` are printed. */
export function printNuxtRow(r: NuxtRow): void {
  printFrameworkRow(r, {
    heading:
      `Nuxt (examples/nuxt-shop): page / (${r.htmlChars} chars of HTML, bundle ${round(r.bundleBytes / 1024, 1)} KB; ` +
      'its server route fetches 24 products from the products API on every render)',
    nodeLabel: 'Nuxt node-server (Node, HTTP)',
    name: 'nuxt',
  });
}

if (import.meta.main) {
  await runRowAlone({
    name: 'nuxt',
    key: 'nuxt',
    timeoutMs: 240_000,
    measure: nuxtRow,
    print: printNuxtRow,
  });
}
