/**
 * A fresh Angular SSR project, as its developer makes it, on the fleet with
 * nothing added but `flotilla init`: the Angular CLI's own scaffolder
 * (`ng new --ssr`, its templates ship in its npm package, so it works
 * offline) at a pinned version in a directory outside the workspace, plain
 * `npm install` with Flotilla's packages from their tarballs (`packAll`, as
 * `./run pack` makes them, once per run: packed-once.ts), `npx flotilla init`, `npx flotilla publish` to a
 * real fleet, and the pages through the shield: the prerendered home page
 * as a file of the deployment, any other path rendered by Angular in an
 * isolate.
 *
 * Node 24 is first on the user's `PATH` here: Angular CLI 22 needs Node
 * 22.12 or later, and `flotilla build` runs the app's Angular build on the
 * Node that runs `flotilla`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '@flotilla/manifest';
import type { PackedPackage } from '@flotilla/release';
import { type Fleet, httpRequest, startFleet, waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedOnce } from './packed-once.ts';
import { inRepo, type ShellResult, shown, userRun } from './user-shell.ts';

/** The Angular CLI the project is made with (the example's, `examples/angular-shop`). */
const ANGULAR_CLI = '22.2.7';
/** npm install fetches Angular from the registry: minutes on a busy machine. */
const INSTALL_MS = 900_000;
const COMMAND_MS = 400_000;
const APP = 'fresh-shop';

let root: string;
let appDir: string;
let packed: PackedPackage[];
let fleet: Fleet | undefined;

function ok(what: string, result: ShellResult): ShellResult {
  expect(result.code, shown(what, result)).toBe(0);
  return result;
}

const run = (command: string, args: string[], timeoutMs = COMMAND_MS) =>
  userRun(command, args, { cwd: appDir, node: 'node24', timeoutMs });

describe('a fresh Angular SSR project (ng new --ssr) with only flotilla init added', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'flotilla-angular-fresh-'));
    appDir = join(root, APP);
    packed = await packedOnce();
  }, INSTALL_MS);

  afterAll(async () => {
    await fleet?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  }, 120_000);

  it(
    'is made by the Angular CLI, installed with npm, set up by flotilla init, and served by the fleet',
    async () => {
      expect(inRepo(root)).toBe(false);
      ok(
        'ng new',
        await userRun(
          'npx',
          [
            '-y',
            `@angular/cli@${ANGULAR_CLI}`,
            'new',
            APP,
            '--ssr',
            '--defaults',
            '--skip-git',
            '--skip-install',
            '--package-manager',
            'npm',
            '--ai-config',
            'none',
          ],
          { cwd: root, node: 'node24', timeoutMs: INSTALL_MS },
        ),
      );
      const angularJson = await readFile(join(appDir, 'angular.json'), 'utf8');
      ok('npm install', await run('npm', ['install', ...packed.map((p) => p.tarball)], INSTALL_MS));

      const init = ok('npx flotilla init', await run('npx', ['flotilla', 'init']));
      expect(init.stdout).toContain('Angular SSR');
      expect(init.stdout).toContain('package.json depends on @angular/ssr');
      const config = JSON.parse(await readFile(join(appDir, 'flotilla.config.json'), 'utf8')) as {
        name: string;
        framework: string;
      };
      expect(config).toMatchObject({ name: APP, framework: 'angular' });

      fleet = await startFleet({ workers: 1 });
      const published = ok(
        'npx flotilla publish',
        await run('npx', ['flotilla', 'publish', '--env', 'production', '--nats', fleet.nats.url]),
      );
      expect(published.stderr).toContain('build: framework ng build');
      expect(published.stdout).toMatch(new RegExp(`deployment ${APP}-[0-9a-f]{12} published`));
      // The app's files are as ng new made them; flotilla's own are gone.
      expect(await readFile(join(appDir, 'angular.json'), 'utf8')).toBe(angularJson);
      const manifest = JSON.parse(
        await readFile(join(appDir, '.flotilla', 'build', 'manifest.json'), 'utf8'),
      ) as Manifest;
      expect(manifest.framework).toBe('angular');

      const get = (path: string) =>
        httpRequest(fleet?.shield.url ?? '', path, { host: `${APP}.localhost` });
      // ng new prerenders every route: the home page is a file of the deployment.
      const home = manifest.assets.find((a) => a.path === '/');
      expect(home).toBeDefined();
      let page = await get('/');
      await waitFor(
        async () => {
          page = await get('/');
          return page.status === 200;
        },
        { timeoutMs: 30_000, message: 'the shield serving the new environment' },
      );
      expect(page.headers.etag).toBe(`"${home?.hash}"`);
      expect(page.body).toContain('<app-root ng-version="22.2.');
      expect(page.body).toMatch(/<script src="main-[A-Z0-9]{8}\.js" type="module">/);
      const script = /<script src="(main-[A-Z0-9]{8}\.js)"/.exec(page.body)?.[1];
      const js = await get(`/${script}`);
      expect(js.status).toBe(200);
      expect(js.headers['cache-control']).toMatch(/immutable/);

      // A path the app has no route for: Angular's engine, in the isolate, answers nothing,
      // and the bundle says 404 (Angular's own Express server falls through to its 404 too).
      const other = await get('/no-such-page');
      expect(other.status).toBe(404);
      expect(other.body).toBe('Not found');
      expect(other.headers['server-timing']).toMatch(/render;dur=/);
    },
    INSTALL_MS + 2 * COMMAND_MS,
  );
});
