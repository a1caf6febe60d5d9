import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Where generated apps live: inside the repository (git-ignored), so their
 * `import … from '@flotilla/sdk'` resolves through the workspace like a
 * real app's.
 */
const APPS_ROOT = fileURLToPath(new URL('../.tmp/', import.meta.url));

/** Options of {@link writeHelloApp}. */
export interface HelloAppOptions {
  /** Shown in the page and in the stylesheet: tells deployments apart. */
  version: string;
  /** App name. @default 'hello' */
  name?: string;
  /** Adds a static file of this many random bytes (a slow upload). */
  bigAssetBytes?: number;
  /** Makes the app import a Node built-in through a helper module. */
  importNodeBuiltin?: boolean;
  /** `maxBundleBytes` in the config. */
  maxBundleBytes?: number;
  /** Writes this text as `flotilla.config.json` instead of a valid config. */
  rawConfig?: string;
}

/** A generated app directory; `remove()` deletes it. */
export interface HelloApp {
  dir: string;
  remove(): Promise<void>;
}

/**
 * Writes a small Router app (`/` renders its version, the `GREETING`
 * environment variable and a link to its hashed stylesheet) with a
 * `flotilla.config.json`, ready for `flotilla build` / `publish`.
 */
export async function writeHelloApp(options: HelloAppOptions): Promise<HelloApp> {
  await mkdir(APPS_ROOT, { recursive: true });
  const dir = await mkdtemp(join(APPS_ROOT, 'app-'));
  const name = options.name ?? 'hello';
  await mkdir(join(dir, 'src'), { recursive: true });
  await mkdir(join(dir, 'public'), { recursive: true });
  const config = {
    name,
    entry: 'src/app.ts',
    framework: 'none',
    static: 'public',
    ...(options.maxBundleBytes ? { maxBundleBytes: options.maxBundleBytes } : {}),
  };
  await writeFile(
    join(dir, 'flotilla.config.json'),
    options.rawConfig ?? `${JSON.stringify(config, null, 2)}\n`,
  );
  await writeFile(
    join(dir, 'public', 'site.css'),
    `/* ${options.version} */ h1 { color: teal; }\n`,
  );
  if (options.bigAssetBytes) {
    await writeFile(join(dir, 'public', 'big.bin'), randomBytes(options.bigAssetBytes));
  }
  if (options.importNodeBuiltin) {
    await writeFile(
      join(dir, 'src', 'disk.ts'),
      "import { readFileSync } from 'node:fs';\nexport const read = (p: string) => readFileSync(p, 'utf8');\n",
    );
  }
  await writeFile(
    join(dir, 'src', 'app.ts'),
    `import { assetUrl, Router } from '@flotilla/sdk';
${options.importNodeBuiltin ? "import { read } from './disk.ts';\n" : ''}
const VERSION = ${JSON.stringify(options.version)};

export default new Router()
  .get('/', ({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 60 } });
    render(({ env }) =>
      new Response(
        '<!doctype html><link rel="stylesheet" href="' + assetUrl('/site.css') + '">' +
          '<h1>hello ' + VERSION + '</h1><p>greeting=' + (env.GREETING ?? '') + '</p>'${
            options.importNodeBuiltin ? " + read('/etc/hostname')" : ''
          },
        { headers: { 'content-type': 'text/html; charset=utf-8' } },
      ),
    );
  });
`,
  );
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
