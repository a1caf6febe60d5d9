import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type ChildHandle,
  FLEET_BIN,
  FLEET_NODE_FLAGS,
  httpGet,
  runCli,
  spawnProcess,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, describe, expect, it } from 'vitest';
import { type HelloApp, writeHelloApp } from '../support/apps.ts';

// `flotilla dev` as an app developer runs it: the app on an embedded fleet,
// rebuilt and re-published on every change.
describe('flotilla dev', () => {
  let app: HelloApp | undefined;
  let dev: ChildHandle | undefined;

  afterAll(async () => {
    await dev?.kill('SIGKILL');
    await app?.remove();
  });

  /** Starts `flotilla dev` on `dir`; resolves with it and the app's URL once it serves. */
  async function startDev(
    dir: string,
    extra: string[] = [],
  ): Promise<{ child: ChildHandle; url: string }> {
    const child = await spawnProcess({
      command: process.execPath,
      args: [...FLEET_NODE_FLAGS, FLEET_BIN, 'dev', '--dir', dir, '--port', '0', ...extra],
      env: { NODE_OPTIONS: '' },
      name: 'flotilla-dev',
      readyPattern: /serving at http:\/\/\S+/,
      readyTimeoutMs: 30_000,
    });
    dev = child;
    const line = await child.waitForLine(/serving at http:\/\/\S+/);
    return { child, url: /serving at (http:\/\/\S+)/.exec(line)?.[1] as string };
  }

  it('exits 2 with a clear message when --dir is missing or holds no app', async () => {
    const missing = await runCli(['dev', '--dir', '/nonexistent/flotilla-app'], {
      timeoutMs: 20_000,
    });
    expect({ code: missing.code, stderr: missing.stderr }).toEqual({
      code: 2,
      stderr: expect.stringContaining(
        'flotilla dev: --dir /nonexistent/flotilla-app: no such directory',
      ),
    });
    const empty = await mkdtemp(join(tmpdir(), 'flotilla-dev-empty-'));
    try {
      const none = await runCli(['dev', '--dir', empty], { timeoutMs: 20_000 });
      expect(none.code).toBe(2);
      expect(none.stderr).toContain(`${empty} has no flotilla.config.json`);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('keeps seeing a file that editors and sed -i save atomically (replaced, not written)', async () => {
    app = await writeHelloApp({ version: 'v1' });
    // Where the "editor" writes its temporary copy: a directory dev ignores,
    // so that only the rename into place can tell dev about the change.
    const scratch = join(app.dir, 'node_modules', '.editor');
    await mkdir(scratch, { recursive: true });
    const { child, url } = await startDev(app.dir);
    expect((await httpGet(url)).body).toContain('hello v1');
    const source = join(app.dir, 'src', 'app.ts');
    const saves: Array<['sed' | 'editor', string, string]> = [
      ['sed', 'v1', 'v2'],
      ['editor', 'v2', 'v3'],
      ['sed', 'v3', 'v4'],
      ['editor', 'v4', 'v5'],
    ];
    for (const [how, from, to] of saves) {
      if (how === 'sed') {
        // sed -i writes a new file beside it and renames it over the old one.
        await promisify(execFile)('sed', ['-i', `s/"${from}"/"${to}"/`, source]);
      } else {
        const copy = join(scratch, 'app.ts');
        await writeFile(copy, (await readFile(source, 'utf8')).replace(`"${from}"`, `"${to}"`));
        await rename(copy, source);
      }
      expect(await readFile(source, 'utf8')).toContain(`"${to}"`);
      await waitFor(async () => (await httpGet(url)).body.includes(`hello ${to}`), {
        timeoutMs: 20_000,
        message: `the ${how} save of ${to} never showed up`,
      });
    }
    expect((await child.kill('SIGTERM')).code).toBe(0);
    dev = undefined;
    await app.remove();
    app = undefined;
  });

  it('serves the app with caching on, picks up changes, and keeps the last good build when one fails', async () => {
    app = await writeHelloApp({ version: 'v1' });
    const { child, url } = await startDev(app.dir, ['--cache', 'on']);
    expect(url).toMatch(/\/hello\/$/);
    expect((await httpGet(url)).body).toContain('hello v1');
    // --cache on: the route's cache options apply, as in production.
    expect((await httpGet(url)).headers.get('cache-status')).toMatch(/^flotilla; hit/);

    const source = join(app.dir, 'src', 'app.ts');
    const original = await readFile(source, 'utf8');
    await writeFile(source, original.replace('"v1"', '"v2"'));
    await waitFor(async () => (await httpGet(url)).body.includes('hello v2'), {
      timeoutMs: 15_000,
      message: 'the change never showed up',
    });

    await writeFile(source, `${original.replace('"v1"', '"v3"')}\nexport const broken = ;\n`);
    await child.waitForLine(/build failed, the last good build keeps serving/, 15_000);
    const still = await httpGet(url);
    expect(still.status).toBe(200);
    expect(still.body).toContain('hello v2');

    const exit = await child.kill('SIGTERM');
    expect(exit.code).toBe(0);
    dev = undefined;
  });
});
