/**
 * A fresh SvelteKit project, as its developer makes it, on the fleet with
 * only `flotilla init` added: `sv create` (pinned; its templates ship in
 * its package, so it works with the npm registry alone) in a directory
 * outside the workspace, `npm install` of its dependencies and of the
 * Flotilla packages as tarballs (`packAll`, as a user would install them
 * from the registry), with Node 24 first on `PATH`, then `npx flotilla init`
 * (which detects SvelteKit) and `npx flotilla publish` to a real fleet,
 * whose shield serves SvelteKit's welcome page and its hashed scripts. The
 * app keeps `adapter-auto` in its `vite.config.ts`: the build swaps in
 * Flotilla's adapter without changing it.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PackedPackage } from '@flotilla/release';
import { type Fleet, httpRequest, startFleet, waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedOnce } from './packed-once.ts';
import { inRepo, type ShellResult, shown, userRun } from './user-shell.ts';

/** The SvelteKit scaffolder, pinned (the example shop was made with the same). */
const SV = 'sv@0.17.1';
/**
 * The user's Node: 24. sv's template has `engine-strict=true` in `.npmrc`,
 * and `@flotilla/cli` depends on `@nats-io/nuid`, which needs Node 22 or
 * later, so on the machine's Node 20 npm refuses to install the CLI.
 */
const USER_NODE = 'node24';
/** npm fetches from the registry: minutes on a busy machine. */
const INSTALL_MS = 600_000;
const COMMAND_MS = 240_000;

let root: string;
let appDir: string;
let packed: PackedPackage[];
let fleet: Fleet | undefined;

function ok(what: string, result: ShellResult): ShellResult {
  expect(result.code, shown(what, result)).toBe(0);
  return result;
}

const inApp = (command: string, args: string[], timeoutMs = COMMAND_MS) =>
  userRun(command, args, { cwd: appDir, node: USER_NODE, timeoutMs });

describe('a fresh SvelteKit project (sv create) with only flotilla init added', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-sveltekit-fresh-'));
    appDir = join(root, 'my-svelte-app');
    packed = await packedOnce();
  }, INSTALL_MS);

  afterAll(async () => {
    await fleet?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }, 120_000);

  it(
    'is made by sv create, installed with npm, set up by flotilla init, and served by the fleet',
    async () => {
      expect(inRepo(root)).toBe(false);
      ok(
        `npx ${SV} create`,
        await userRun(
          'npx',
          [
            '-y',
            SV,
            'create',
            'my-svelte-app',
            '--template',
            'minimal',
            '--types',
            'ts',
            '--no-add-ons',
            '--no-install',
          ],
          { cwd: root, node: USER_NODE, timeoutMs: INSTALL_MS },
        ),
      );
      const viteConfig = await readFile(join(appDir, 'vite.config.ts'), 'utf8');
      expect(viteConfig).toContain('@sveltejs/adapter-auto');

      // The Flotilla packages are not on the registry here: their tarballs stand in for them.
      ok(
        'npm install',
        await inApp('npm', ['install', '--save-dev', ...packed.map((p) => p.tarball)], INSTALL_MS),
      );

      const init = ok('npx flotilla init', await inApp('npx', ['flotilla', 'init']));
      expect(`${init.stdout}${init.stderr}`).toContain('SvelteKit');
      expect(`${init.stdout}${init.stderr}`).toContain('package.json depends on @sveltejs/kit');
      const config = JSON.parse(await readFile(join(appDir, 'flotilla.config.json'), 'utf8')) as {
        name: string;
        framework?: string;
        entry?: string;
      };
      expect(config.name).toBe('my-svelte-app');
      expect(config.entry).toBeUndefined();

      fleet = await startFleet({ workers: 1 });
      const published = ok(
        'npx flotilla publish',
        await inApp('npx', [
          'flotilla',
          'publish',
          '--env',
          'production',
          '--nats',
          fleet.nats.url,
        ]),
      );
      expect(published.stderr).toMatch(/build: framework .*vite build/);
      expect(published.stdout).toMatch(/deployment my-svelte-app-[0-9a-f]{12} published/);
      // The app's own files are as sv made them.
      expect(await readFile(join(appDir, 'vite.config.ts'), 'utf8')).toBe(viteConfig);

      const manifest = JSON.parse(
        await readFile(join(appDir, '.flotilla', 'build', 'manifest.json'), 'utf8'),
      ) as { framework: string; assets: Array<{ path: string; permanent: boolean }> };
      expect(manifest.framework).toBe('sveltekit');

      const shield = fleet.shield.url;
      const host = 'my-svelte-app.localhost';
      await waitFor(async () => (await httpRequest(shield, '/', { host })).status === 200, {
        timeoutMs: 30_000,
        message: `the shield never served ${host}/`,
      });
      const page = await httpRequest(shield, '/', { host });
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('<h1>Welcome to SvelteKit</h1>');
      const start = /_app\/immutable\/entry\/start\.[\w-]+\.js/.exec(page.body)?.[0];
      expect(start).toBeDefined();
      expect(manifest.assets.some((a) => a.permanent && a.path === `/${start}`)).toBe(true);
      const js = await httpRequest(shield, `/${start}`, { host });
      expect(js.status).toBe(200);
      expect(js.headers['cache-control']).toContain('immutable');
      expect((await httpRequest(shield, '/robots.txt', { host })).status).toBe(200);
      expect((await httpRequest(shield, '/nope', { host })).status).toBe(404);
    },
    3 * INSTALL_MS,
  );
});
