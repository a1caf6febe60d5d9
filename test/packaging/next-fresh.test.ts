/**
 * A Next.js project made fresh with `create-next-app` (16.4.3, its defaults:
 * TypeScript, App Router, Tailwind, `cacheComponents`, `next/font/google`),
 * not the example: the packages as a user gets them (`./run pack`),
 * installed with plain npm outside the workspace, `npx flotilla init` the
 * only thing added, `npx flotilla build` (the project's own `next build` with
 * Flotilla's adapter), `npx flotilla publish` to a real fleet, whose shield
 * serves the default page, its RSC apart from it, and Next's hashed files;
 * then what a user adds next, a route handler with Next's default (Node.js)
 * runtime reading the request, served from the isolate.
 *
 * This machine cannot reach Google Fonts, which `next/font/google` downloads
 * while building: Next's own switch for that
 * (`NEXT_FONT_GOOGLE_MOCKED_RESPONSES`) answers the template's two font
 * requests with Google's CSS pointing at the Geist files Next ships, served
 * from 127.0.0.1. Nothing else of the project is changed.
 */
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { PackedPackage } from '@flotilla/release';
import { type Fleet, httpRequest, startFleet, waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packedOnce } from './packed-once.ts';
import { inRepo, type ShellResult, shown, userRun } from './user-shell.ts';

/** create-next-app and npm install fetch from the registry: minutes on a busy machine. */
const INSTALL_MS = 600_000;
const COMMAND_MS = 300_000;
const CREATE_NEXT_APP = 'create-next-app@16.4.3';
const APP = 'fresh-next';

let workDir: string;
let appDir: string;
let packed: PackedPackage[];
let fonts: Server;
let mockFile: string;
let fleet: Fleet | undefined;

/** Runs `command` in the project with Node 24 first on PATH (Next 16 needs Node ≥ 20.9) and `env` set. */
function run(
  command: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = COMMAND_MS,
): Promise<ShellResult> {
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return userRun('env', [...assignments, command, ...args], {
    cwd: appDir,
    node: 'node24',
    timeoutMs,
  });
}

function ok(what: string, result: ShellResult): ShellResult {
  expect(result.code, shown(what, result)).toBe(0);
  return result;
}

/** What `next build` needs to stand in for Google Fonts (see the module documentation). */
function fontEnv(): Record<string, string> {
  return { NEXT_FONT_GOOGLE_MOCKED_RESPONSES: mockFile };
}

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'flotilla-next-fresh-'));
  appDir = join(workDir, APP);
  packed = await packedOnce();
  const created = await userRun(
    'npx',
    [
      '-y',
      CREATE_NEXT_APP,
      APP,
      '--yes',
      '--ts',
      '--tailwind',
      '--app',
      '--no-eslint',
      '--use-npm',
      '--disable-git',
      '--no-agent-feedback',
    ],
    { cwd: workDir, node: 'node24', timeoutMs: INSTALL_MS },
  );
  ok(`npx ${CREATE_NEXT_APP}`, created);

  // The Geist files Next ships, where Google's CSS would point.
  const fontDir = join(appDir, 'node_modules', 'next', 'dist', 'next-devtools', 'server', 'font');
  fonts = createServer((req, res) => {
    const file = basename(req.url ?? '/');
    res.setHeader('content-type', 'font/woff2');
    createReadStream(join(fontDir, file))
      .on('error', () => res.writeHead(404).end())
      .pipe(res);
  });
  await new Promise<void>((r) => fonts.listen(0, '127.0.0.1', r));
  const fontOrigin = `http://127.0.0.1:${(fonts.address() as AddressInfo).port}`;
  const css = (family: string, file: string) =>
    `/* latin */\n@font-face {\n  font-family: '${family}';\n  font-style: normal;\n  font-weight: 100 900;\n  font-display: swap;\n  src: url(${fontOrigin}/${file}) format('woff2');\n  unicode-range: U+0000-00FF, U+0131, U+0152-0153;\n}\n`;
  const google = 'https://fonts.googleapis.com/css2?family=';
  mockFile = join(workDir, 'google-fonts.json');
  await writeFile(
    mockFile,
    JSON.stringify({
      [`${google}Geist:wght@100..900&display=swap`]: css('Geist', 'geist-latin.woff2'),
      [`${google}Geist+Mono:wght@100..900&display=swap`]: css(
        'Geist Mono',
        'geist-mono-latin.woff2',
      ),
    }),
  );
}, INSTALL_MS);

afterAll(async () => {
  await fleet?.stop();
  await new Promise((r) => fonts?.close(r));
  if (workDir) await rm(workDir, { recursive: true, force: true });
}, 120_000);

describe('a fresh create-next-app project with only `flotilla init` added', () => {
  it(
    'installs the packed packages with plain npm, and `npx flotilla init` detects Next.js',
    async () => {
      expect(inRepo(appDir)).toBe(false);
      ok(
        'npm install (tarballs)',
        await run('npm', ['install', ...packed.map((p) => p.tarball)], {}, INSTALL_MS),
      );
      const init = ok('npx flotilla init', await run('npx', ['flotilla', 'init']));
      expect(`${init.stdout}${init.stderr}`).toContain('wrote flotilla.config.json');
      const config = JSON.parse(await readFile(join(appDir, 'flotilla.config.json'), 'utf8')) as {
        name: string;
        framework: string;
      };
      expect(config).toMatchObject({ name: APP, framework: 'next' });
    },
    INSTALL_MS,
  );

  it(
    "builds with `npx flotilla build`, which runs the project's next build",
    async () => {
      // What a user adds next: a route handler with Next's default (Node.js)
      // runtime that reads the request, so it runs at request time.
      await mkdir(join(appDir, 'app', 'api', 'hello'), { recursive: true });
      await writeFile(
        join(appDir, 'app', 'api', 'hello', 'route.ts'),
        [
          "import { headers } from 'next/headers';",
          '',
          'export async function GET(request: Request) {',
          "  const agent = (await headers()).get('user-agent');",
          "  return Response.json({ hello: new URL(request.url).searchParams.get('name'), agent });",
          '}',
          '',
        ].join('\n'),
      );
      const build = ok('npx flotilla build', await run('npx', ['flotilla', 'build'], fontEnv()));
      expect(build.stderr).toMatch(/build: framework Next\.js 16\.4\.3, build /);
      expect(build.stdout).toMatch(new RegExp(`^built ${APP} into `));
      const manifest = JSON.parse(
        await readFile(join(appDir, '.flotilla', 'build', 'manifest.json'), 'utf8'),
      ) as { framework: string; assets: { path: string; permanent: boolean }[] };
      expect(manifest.framework).toBe('next');
      expect(manifest.assets).toContainEqual(
        expect.objectContaining({ path: '/next.svg', permanent: false }),
      );
      expect(
        manifest.assets.filter((a) => a.path.startsWith('/_next/static/') && a.permanent).length,
      ).toBeGreaterThan(3);
    },
    COMMAND_MS,
  );

  it(
    'publishes to a real fleet, whose shield serves the page, its RSC apart, and the hashed files',
    async () => {
      fleet = await startFleet({ workers: 1, cache: true });
      const nats = fleet.nats.url;
      ok(
        'npx flotilla publish',
        await run('npx', ['flotilla', 'publish', '--env', 'production', '--nats', nats], fontEnv()),
      );
      const shield = fleet.shield.url;
      const host = `${APP}.localhost`;
      await waitFor(async () => (await httpRequest(shield, '/', { host })).status === 200, {
        timeoutMs: 30_000,
        message: `the shield never served ${host}/`,
      });
      const page = await httpRequest(shield, '/', { host });
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.body).toContain('To get started, edit the');
      const rsc = await httpRequest(shield, '/', { host, headers: { rsc: '1' } });
      expect(rsc.status).toBe(200);
      expect(rsc.headers['content-type']).toBe('text/x-component');
      expect(rsc.body).not.toContain('<html');

      const css = /<link rel="stylesheet" href="(\/_next\/static\/[^"]+\.css)"/.exec(
        page.body,
      )?.[1];
      expect(css).toBeDefined();
      const sheet = await httpRequest(shield, css as string, { host });
      expect(sheet.status).toBe(200);
      expect(sheet.headers['cache-control']).toContain('immutable');
      const logo = await httpRequest(shield, '/next.svg', { host });
      expect(logo.status).toBe(200);
      expect(logo.headers['content-type']).toMatch(/^image\/svg\+xml/);
      const missing = await httpRequest(shield, '/nope', { host });
      expect(missing.status).toBe(404);

      // The Node-runtime route handler, rendered in the isolate per request.
      const hello = await httpRequest(shield, '/api/hello?name=fresh', {
        host,
        headers: { 'user-agent': 'fresh-test/1' },
      });
      expect(hello.status).toBe(200);
      expect(JSON.parse(hello.body)).toEqual({ hello: 'fresh', agent: 'fresh-test/1' });
    },
    2 * COMMAND_MS,
  );
});
