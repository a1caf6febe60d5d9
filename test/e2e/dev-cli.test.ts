import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ChildHandle,
  FLEET_BIN,
  FLEET_NODE_FLAGS,
  httpGet,
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

  it('serves the app with caching on, picks up changes, and keeps the last good build when one fails', async () => {
    app = await writeHelloApp({ version: 'v1' });
    dev = await spawnProcess({
      command: process.execPath,
      args: [
        ...FLEET_NODE_FLAGS,
        FLEET_BIN,
        'dev',
        '--dir',
        app.dir,
        '--port',
        '0',
        '--cache',
        'on',
      ],
      env: { NODE_OPTIONS: '' },
      name: 'flotilla-dev',
      readyPattern: /serving at http:\/\/\S+/,
      readyTimeoutMs: 30_000,
    });
    const line = await dev.waitForLine(/serving at http:\/\/\S+/);
    const url = /serving at (http:\/\/\S+)/.exec(line)?.[1] as string;
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
    await dev.waitForLine(/build failed, the last good build keeps serving/, 15_000);
    const still = await httpGet(url);
    expect(still.status).toBe(200);
    expect(still.body).toContain('hello v2');

    const exit = await dev.kill('SIGTERM');
    expect(exit.code).toBe(0);
    dev = undefined;
  });
});
