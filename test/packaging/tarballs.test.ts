import { lstat, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findProduct, type ProductsApi, startProductsApi } from '@flotilla/example-products-api';
import type { PackedPackage } from '@flotilla/release';
import {
  type ChildHandle,
  type Fleet,
  httpGet,
  httpRequest,
  spawnProcess,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedOnce } from './packed-once.ts';
import {
  inRepo,
  REPO_ROOT,
  type ShellResult,
  shown,
  systemNode,
  userEnv,
  userRun,
} from './user-shell.ts';

/**
 * The packages as a user gets them: packed (`./run pack`), installed with
 * plain npm on the machine's own Node (≥ 20) into a directory outside the
 * workspace, and the app of README.md's "Write and publish an app" (its
 * config and `src/app.tsx`, word for word but the API's port) built,
 * published to a real fleet on a real nats-server, and run with
 * `flotilla dev` on Node 24.
 */

/** npm install fetches from the registry: minutes on a busy machine. */
const INSTALL_MS = 600_000;
const COMMAND_MS = 180_000;

/** React as the workspace pins it (the README's `npm install react react-dom`, pinned). */
const sdkManifest = JSON.parse(await readFile(join(REPO_ROOT, 'sdk', 'package.json'), 'utf8')) as {
  devDependencies: Record<string, string>;
};
const REACT = sdkManifest.devDependencies.react as string;

/** The fenced blocks of README.md's "Write and publish an app" section, by language. */
async function readmeBlocks(): Promise<{ config: string; app: string }> {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Write and publish an app\n');
  const end = readme.indexOf('\n## ', start + 1);
  if (start === -1) throw new Error('README.md has no "Write and publish an app" section');
  const section = readme.slice(start, end === -1 ? undefined : end);
  const block = (lang: string) => {
    const m = new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``).exec(section);
    if (!m?.[1]) throw new Error(`README.md's section has no \`\`\`${lang} block`);
    return m[1];
  };
  return { config: block('json'), app: block('tsx') };
}

let appDir: string;
let packed: PackedPackage[];
let api: ProductsApi;
let fleet: Fleet | undefined;
let dev: ChildHandle | undefined;
let appName: string;

const npm = (args: string[], node: 'system' | 'node24' = 'system', timeoutMs = COMMAND_MS) =>
  userRun('npm', args, { cwd: appDir, node, timeoutMs });
const npx = (args: string[], node: 'system' | 'node24' = 'system', timeoutMs = COMMAND_MS) =>
  userRun('npx', args, { cwd: appDir, node, timeoutMs });

function ok(what: string, result: ShellResult): ShellResult {
  expect(result.code, shown(what, result)).toBe(0);
  return result;
}

describe('the published packages, installed with plain npm outside the workspace', () => {
  beforeAll(async () => {
    const node = await userRun(systemNode(), ['--version'], {
      cwd: tmpdir(),
      node: 'system',
      timeoutMs: 30_000,
    });
    const major = Number(/^v(\d+)\./.exec(node.stdout)?.[1]);
    if (!(major >= 20)) {
      throw new Error(`the machine's Node (${systemNode()}) is ${node.stdout.trim()}: need ≥ 20`);
    }
    appDir = await mkdtemp(join(tmpdir(), 'flotilla-app-'));
    packed = await packedOnce();
    api = await startProductsApi({ port: 0 });
  }, INSTALL_MS);

  afterAll(async () => {
    await dev?.kill('SIGKILL');
    await fleet?.stop();
    await api?.close();
    if (appDir) await rm(appDir, { recursive: true, force: true });
  }, 120_000);

  it('installs with plain npm on the machine’s Node: real directories, registry dependencies, an SDK without isolated-vm', async () => {
    expect(inRepo(appDir)).toBe(false);
    expect(packed.map((p) => p.name)).toEqual(
      expect.arrayContaining(['@flotilla/sdk', '@flotilla/cli']),
    );
    ok('npm init -y', await npm(['init', '-y']));
    const { config, app } = await readmeBlocks();
    const parsed = JSON.parse(config) as { name: string; backends: Record<string, string> };
    appName = parsed.name;
    await writeFile(
      join(appDir, 'flotilla.config.json'),
      config.replace(parsed.backends.api as string, api.url),
    );
    await mkdir(join(appDir, 'src'));
    await writeFile(join(appDir, 'src', 'app.tsx'), app);
    ok(
      'npm install',
      await npm(
        ['install', ...packed.map((p) => p.tarball), `react@${REACT}`, `react-dom@${REACT}`],
        'system',
        INSTALL_MS,
      ),
    );

    for (const p of packed) {
      const dir = join(appDir, 'node_modules', p.name);
      const stat = await lstat(dir);
      expect(stat.isDirectory() && !stat.isSymbolicLink(), `${dir} is a real directory`).toBe(true);
      expect(inRepo(await realpath(dir)), `${dir} is outside the repository`).toBe(false);
      const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Record<
        string,
        Record<string, string> | undefined
      >;
      for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
        for (const [dep, spec] of Object.entries(manifest[field] ?? {})) {
          expect(spec, `${p.name} ${field}.${dep}`).not.toMatch(/^(workspace|file|link):|^[./]/);
        }
      }
      expect(JSON.stringify(manifest.exports), `${p.name} exports`).not.toContain('./src/');
    }

    // What installing @flotilla/sdk alone brings: its dependency closure.
    const closure = new Set<string>();
    const walk = async (name: string) => {
      if (closure.has(name)) return;
      closure.add(name);
      const manifest = JSON.parse(
        await readFile(join(appDir, 'node_modules', name, 'package.json'), 'utf8'),
      ) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
      for (const dep of Object.keys({
        ...manifest.dependencies,
        ...manifest.optionalDependencies,
      })) {
        await walk(dep).catch(() => {}); // an optional dependency npm left out
      }
    };
    await walk('@flotilla/sdk');
    expect([...closure].filter((n) => /isolated-vm|piscina|@flotilla\/runtime/.test(n))).toEqual(
      [],
    );
  });

  it(
    'builds with `npx flotilla build` on the machine’s Node',
    async () => {
      const build = ok('npx flotilla build', await npx(['flotilla', 'build']));
      expect(build.stdout).toMatch(new RegExp(`^built ${appName} into `));
      expect(build.stderr).toContain('build: bundle');
      const manifest = JSON.parse(
        await readFile(join(appDir, '.flotilla', 'build', 'manifest.json'), 'utf8'),
      ) as { name: string; routes: unknown[] };
      expect(manifest.name).toBe(appName);
      expect(manifest.routes).toHaveLength(2);
    },
    COMMAND_MS,
  );

  it(
    '`npx flotilla init` refuses to overwrite a config, and scaffolds an app in an empty directory that builds',
    async () => {
      const again = await npx(['flotilla', 'init']);
      expect(again.code, shown('npx flotilla init', again)).toBe(5);
      expect(again.stderr).toContain('flotilla.config.json');

      const fresh = await mkdtemp(join(tmpdir(), 'flotilla-init-'));
      try {
        ok(
          'npx flotilla init --template react',
          await npx(['flotilla', 'init', '--dir', fresh, '--template', 'react']),
        );
        const pkg = JSON.parse(await readFile(join(fresh, 'package.json'), 'utf8')) as {
          dependencies: Record<string, string>;
        };
        expect(pkg.dependencies['@flotilla/sdk']).toBe('^0.2.0');
        // The packages are not on the registry here: install the tarballs in their place.
        ok(
          'npm install (scaffolded app)',
          await userRun('npm', ['install', ...packed.map((p) => p.tarball)], {
            cwd: fresh,
            node: 'system',
            timeoutMs: INSTALL_MS,
          }),
        );
        const build = ok(
          'npx flotilla build (scaffolded app)',
          await userRun('npx', ['flotilla', 'build'], {
            cwd: fresh,
            node: 'system',
            timeoutMs: COMMAND_MS,
          }),
        );
        expect(build.stdout).toMatch(/^built \S+ into /);
        const manifest = JSON.parse(
          await readFile(join(fresh, '.flotilla', 'build', 'manifest.json'), 'utf8'),
        ) as { framework: string; assets: Array<{ path: string }> };
        expect(manifest.framework).toBe('react');
        expect(manifest.assets.map((a) => a.path)).toEqual(
          expect.arrayContaining([expect.stringMatching(/^\/assets\/client\/main-/)]),
        );
      } finally {
        await rm(fresh, { recursive: true, force: true });
      }
    },
    INSTALL_MS,
  );

  it(
    'answers `flotilla dev` on a Node other than 24 with the command to use, not a stack trace',
    async () => {
      const res = await npx(['flotilla', 'dev', '--port', '0']);
      expect(res.code, shown('npx flotilla dev', res)).toBe(1);
      expect(res.stderr).toContain('need Node 24');
      expect(res.stderr).toContain('npx -y -p node@24 -- flotilla dev --port 0');
      expect(res.stderr).toContain('npx -y -p node@24 -- npm install');
      expect(res.stderr).not.toMatch(/^\s+at /m);
    },
    COMMAND_MS,
  );

  it(
    'publishes with `npx flotilla publish` on the machine’s Node to a real fleet, which serves the page',
    async () => {
      fleet = await startFleet({ workers: 1 });
      const nats = fleet.nats.url;
      const published = ok(
        'npx flotilla publish',
        await npx(['flotilla', 'publish', '--env', 'production', '--nats', nats]),
      );
      expect(published.stdout).toMatch(new RegExp(`deployment ${appName}-[0-9a-f]{12} published`));
      expect(published.stdout).toContain('production: ');
      const envs = ok(
        'npx flotilla envs',
        await npx(['flotilla', 'envs', '--nats', nats, '--json']),
      );
      expect(JSON.stringify(JSON.parse(envs.stdout))).toContain(appName);

      // The shields see the environment switch through their watch, within moments.
      const shield = fleet.shield.url;
      const host = `${appName}.localhost`;
      await waitFor(async () => (await httpRequest(shield, '/p/7', { host })).status === 200, {
        timeoutMs: 30_000,
        message: `the shield never served ${host}/p/7`,
      });
      const page = await httpRequest(shield, '/p/7', { host });
      expect(page.body).toContain(`<h1>${findProduct(7)?.name}</h1>`);
      // The page hydrates: its loader data and its browser code, served by the shield.
      expect(page.body).toContain('<script type="application/json" id="flotilla-data"');
      const script = /<script type="module" src="([^"]+)"/.exec(page.body)?.[1];
      expect(script).toMatch(/^\/assets\/client\/main-[\w-]+\.js$/);
      const js = await httpRequest(shield, script as string, { host });
      expect(js.status).toBe(200);
      expect(js.headers['cache-control']).toContain('immutable');
      const missing = await httpRequest(shield, '/nope', { host });
      expect(missing.status).toBe(404);
      await fleet.stop();
      fleet = undefined;
    },
    2 * COMMAND_MS,
  );

  it(
    'runs `npx flotilla dev` with Node 24 once npm added isolated-vm, and drains on SIGTERM',
    async () => {
      const before = await npx(['flotilla', 'dev', '--port', '0'], 'node24');
      expect(before.code, shown('npx flotilla dev', before)).toBe(1);
      expect(before.stderr).toContain('isolated-vm');
      expect(before.stderr).toContain('npx -y -p node@24 -- npm install');
      ok('npm install (Node 24)', await npm(['install'], 'node24', INSTALL_MS));

      dev = await spawnProcess({
        command: 'npx',
        args: ['flotilla', 'dev', '--port', '0'],
        cwd: appDir,
        env: userEnv('node24'),
        name: 'npx flotilla dev',
        processGroup: true,
        readyPattern: /serving at http:\/\/\S+/,
        readyTimeoutMs: COMMAND_MS,
      });
      const line = await dev.waitForLine(/serving at http:\/\/\S+/);
      const url = /serving at (http:\/\/\S+)/.exec(line)?.[1] as string;
      expect(url).toMatch(new RegExp(`/${appName}/$`));
      const page = await httpGet(`${url}p/7`, { timeoutMs: 30_000 });
      expect(page.status, page.body).toBe(200);
      expect(page.body).toContain(`<h1>${findProduct(7)?.name}</h1>`);

      // As Ctrl-C in a terminal: the signal reaches npx and the CLI it runs.
      await dev.kill('SIGTERM');
      expect(dev.output()).toContain('SIGTERM: draining');
      expect(dev.output()).toMatch(/worker drained/);
      dev = undefined;
    },
    INSTALL_MS,
  );
});
