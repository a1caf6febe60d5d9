/**
 * `flotilla build`: bundles an app into `bundle.js`, `manifest.json` and hashed assets.
 *
 * @module
 */
import { buildProject } from '@flotilla/sdk/build';
import { appDir, type ControlCommand, type Ctx, out, progress, str } from './context.ts';
import { stringOptions } from './option-table.ts';
import { kib } from './tables.ts';

async function build(ctx: Ctx): Promise<number> {
  const started = performance.now();
  const outDir = str(ctx.values, 'out');
  const result = await buildProject({
    dir: appDir(ctx),
    ...(outDir ? { outDir } : {}),
    onProgress: (p) => progress(ctx, `build: ${p.phase}${p.detail ? ` ${p.detail}` : ''}`),
  });
  const m = result.manifest;
  return out(
    ctx,
    { outDir: result.outDir, manifest: m, ms: Math.round(performance.now() - started) },
    `built ${m.name} into ${result.outDir}: bundle ${kib(m.bundleBytes)}, ${m.routes.length} routes, ` +
      `${m.assets.length} assets, content ${m.contentHash.slice(0, 12)} ` +
      `(${Math.round(performance.now() - started)} ms)\n`,
  );
}

/** `flotilla build`, for the command table. */
export const buildCommand: ControlCommand = {
  name: 'build',
  usage: `  flotilla build [--dir <app>] [--out <dir>]
      bundle the app (flotilla.config.json in --dir) into bundle.js, manifest.json and assets
`,
  options: stringOptions('out'),
  run: build,
};
