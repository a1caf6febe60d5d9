import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prerenderSubject } from '@flotilla/protocol';
import {
  type CliResult,
  type HttpReply,
  httpRequest,
  type ListeningServer,
  listen,
  metricValue,
  runCli,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRefused, type SecuredFleet, startSecuredFleet } from '../security/secured-fleet.ts';

/**
 * EdgeJS environment-level features through a real secured fleet (nats-server
 * with the generated permissions, control service, scheduler, worker, shield
 * with its cache) and the real `flotilla` CLI run as each team: redirect
 * tables (`flotilla redirects`), prerendering at promote
 * (`router.prerender()`, `prerenderRequests`), and pre-warm that never
 * sends a request to a legacy origin behind a proxy fallback.
 */

/** Inside the repository (git-ignored), so `@flotilla/sdk` resolves through the workspace. */
const APPS_ROOT = fileURLToPath(new URL('../.tmp/', import.meta.url));

let sf: SecuredFleet;
let legacy: ListeningServer;
/** Requests the legacy origin received, by path. */
const legacyHits: string[] = [];
const dirs: string[] = [];

async function writeApp(config: Record<string, unknown>, source: string): Promise<string> {
  await mkdir(APPS_ROOT, { recursive: true });
  const dir = await mkdtemp(join(APPS_ROOT, 'edgejs-'));
  dirs.push(dir);
  await mkdir(join(dir, 'src'));
  await writeFile(
    join(dir, 'flotilla.config.json'),
    JSON.stringify({ entry: 'src/app.ts', framework: 'none', ...config }),
  );
  await writeFile(join(dir, 'src', 'app.ts'), source);
  return dir;
}

async function writeFileIn(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(APPS_ROOT, 'redirects-'));
  dirs.push(dir);
  await writeFile(join(dir, name), text);
  return join(dir, name);
}

/** `flotilla <args>` as `team`'s credential. */
function cli(team: string, args: string[]): Promise<CliResult> {
  return runCli(args, {
    env: {
      FLOTILLA_NATS: sf.fleet.nats.url,
      FLOTILLA_SHIELD: sf.fleet.shield.url,
      FLOTILLA_CREDS: sf.creds(`team-${team}`),
    },
    timeoutMs: 90_000,
  });
}

function get(host: string, path: string): Promise<HttpReply> {
  return httpRequest(sf.fleet.shield.url, path, { host });
}

/** Renders every worker has finished, by any deployment. */
async function renders(): Promise<number> {
  let sum = 0;
  for (const worker of sf.fleet.live('worker')) {
    sum += await metricValue(worker.adminUrl, 'flotilla_worker_renders_total');
  }
  return sum;
}

const SHOP = `import { Router } from '@flotilla/sdk';

const text = (body: string) =>
  new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8' } });

export default new Router()
  .prerender([{ path: '/' }, { path: '/p/1' }])
  .get('/', ({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 300 } });
    render(() => text('home'));
  })
  .get('/p/:id', ({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 300 } });
    render(({ params }) => text('product ' + params.id));
  });
`;

const LEGACY = `import { Router } from '@flotilla/sdk';

export default new Router()
  .get('/home', ({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 60 } });
    render(() => new Response('new home'));
  })
  .fallback(({ proxy }) => proxy('legacy'));
`;

beforeAll(async () => {
  legacy = await listen((req, res) => {
    legacyHits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`legacy ${req.url}`);
  });
  sf = await startSecuredFleet({ shop: ['rshop'], legacy: ['rlegacy'], other: ['rother'] });
}, 120_000);

afterAll(async () => {
  await sf?.stop();
  await legacy?.close();
  await Promise.allSettled(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('prerendering at promote', () => {
  it('publishes with router.prerender() and prerenderRequests; each path is a hit on its first request', async () => {
    const dir = await writeApp(
      { name: 'rshop', prerenderRequests: [{ path: '/p/2' }, { path: '/' }] },
      SHOP,
    );
    const res = await cli('shop', ['publish', '--dir', dir, '--env', 'production']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(
      /prerender: 3 path\(s\) on 1 shield\(s\): 3 stored, 0 failed \(\d+ ms\)/,
    );
    for (const [path, body] of [
      ['/', 'home'],
      ['/p/1', 'product 1'],
      ['/p/2', 'product 2'],
    ] as const) {
      const page = await get('rshop.localhost', path);
      expect(page.status).toBe(200);
      expect(page.body).toBe(body);
      expect(page.headers['cache-status'], path).toMatch(/^flotilla; hit/);
    }
    // A path not listed is a miss on its first request.
    const other = await get('rshop.localhost', '/p/3');
    expect(other.headers['cache-status']).toMatch(/fwd=uri-miss/);
  });

  it('a path that cannot be stored is reported by publish and promote, with why', async () => {
    const dir = await writeApp(
      { name: 'rshop', prerenderRequests: [{ path: '/nothing-here' }] },
      SHOP,
    );
    const res = await cli('shop', ['publish', '--dir', dir, '--env', 'production']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(
      'build: routes warning: prerender /nothing-here: no route matches it (the bundle answers 404, which is not stored)',
    );
    expect(res.stderr).toMatch(/prerender: 3 path\(s\) on 1 shield\(s\): 2 stored, 1 failed/);
    expect(res.stderr).toMatch(
      /prerender: failed test\/h-[0-9a-f]+ \/nothing-here: 404 .*x-flotilla-caching-status: code\)/,
    );
    const id = /deployment (rshop-[0-9a-f]{12})/.exec(res.stdout)?.[1] as string;
    const again = await cli('shop', ['promote', id, '--env', 'production', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const out = JSON.parse(again.stdout) as {
      prerender: { stored: number; failed: number; shields: Array<{ results: unknown[] }> };
    };
    expect(out.prerender.stored).toBe(2);
    expect(out.prerender.failed).toBe(1);
    expect(out.prerender.shields[0]?.results).toContainEqual({
      path: '/nothing-here',
      status: 404,
      stored: false,
      detail: expect.stringContaining('x-flotilla-caching-status'),
    });
  });
});

describe('a deployment with nothing to prerender', () => {
  it('publish, promote and rollback ask no shield and say nothing of prerendering', async () => {
    const app = (body: string) => `import { Router } from '@flotilla/sdk';

export default new Router().get('/', ({ cache, render }) => {
  cache({ edge: { maxAgeSeconds: 60 } });
  render(() => new Response('${body}'));
});
`;
    // What the CLI asks of the shields for app rother, seen by the operator.
    const asked: string[] = [];
    const watch = sf.operator.subscribe(prerenderSubject('rother'), {
      callback: (_err, msg) => {
        asked.push(msg.subject);
      },
    });
    await sf.operator.flush();
    const publish = async (body: string, config: Record<string, unknown> = {}) => {
      const dir = await writeApp({ name: 'rother', ...config }, app(body));
      const res = await cli('other', ['publish', '--dir', dir, '--env', 'production']);
      expect(res.code, res.stderr).toBe(0);
      return { res, id: /deployment (rother-[0-9a-f]+) published/.exec(res.stdout)?.[1] ?? '' };
    };
    const one = await publish('one');
    const two = await publish('two');
    expect(one.res.stderr).toMatch(/prewarm: warm on 1 worker/);
    for (const { res } of [one, two]) expect(res.stderr).not.toContain('prerender');
    const promote = await cli('other', ['promote', one.id, '--env', 'staging']);
    expect(promote.code, promote.stderr).toBe(0);
    const back = await cli('other', ['rollback', '--env', 'production', '--app', 'rother']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout).toContain(`rolled back to ${one.id}`);
    for (const res of [promote, back]) expect(res.stderr).not.toContain('prerender');
    // A round trip on the operator's connection: a request sent before has arrived.
    await sf.operator.flush();
    expect(asked).toEqual([]);

    // The same watch sees the request of a deployment that declares a path.
    const three = await publish('three', { prerenderRequests: [{ path: '/' }] });
    expect(three.res.stderr).toMatch(/prerender: 1 path\(s\) on 1 shield\(s\): 1 stored/);
    await sf.operator.flush();
    watch.unsubscribe();
    expect(asked).toEqual([prerenderSubject('rother')]);
  });
});

describe('redirect tables', () => {
  const csvRows = 3000;
  const jsonRows = 2500;

  it('imports a few thousand CSV rows with progress; the shield answers them without a render', async () => {
    const lines = ['from,to,status,forwardQueryString'];
    for (let i = 0; i < csvRows; i++) lines.push(`/old/${i},/p/${i},301,`);
    lines.push('/campaign,https://example.com/landing?src=table,302,true');
    const file = await writeFileIn('redirects.csv', `${lines.join('\n')}\n`);
    const res = await cli('shop', [
      'redirects',
      'import',
      file,
      '--app',
      'rshop',
      '--env',
      'production',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain(`redirects: ${csvRows + 1} rows of ${file} checked`);
    expect(res.stderr).toContain('redirects: sent 2000/3001 rows');
    expect(res.stderr).toContain('redirects: sent 3001/3001 rows');
    expect(res.stdout).toContain('rshop production: 3001 redirects (table replaced)');

    // The shield picks the table up from its watch of the control plane.
    await waitFor(async () => (await get('rshop.localhost', '/old/2999')).status === 301, {
      timeoutMs: 10_000,
      message: 'the shield never answered /old/2999 from the table',
    });
    const before = await renders();
    for (const i of [0, 1, 17, 1500, 2999]) {
      const hop = await get('rshop.localhost', `/old/${i}?utm=x`);
      expect(hop.status).toBe(301);
      expect(hop.headers.location).toBe(`/p/${i}`);
      expect(hop.headers['x-flotilla-redirect']).toBe('table');
    }
    const campaign = await get('rshop.localhost', '/campaign?utm=mail');
    expect(campaign.status).toBe(302);
    expect(campaign.headers.location).toBe('https://example.com/landing?src=table&utm=mail');
    // Routed by path prefix, a path target stays under it.
    const prefixed = await get('127.0.0.1', '/rshop/old/5');
    expect(prefixed.status).toBe(301);
    expect(prefixed.headers.location).toBe('/rshop/p/5');
    expect(await renders()).toBe(before);
    // A path the table does not hold is rendered as before (and counted).
    expect((await get('rshop.localhost', '/p/9')).body).toBe('product 9');
    await waitFor(async () => (await renders()) === before + 1, {
      timeoutMs: 5000,
      message: 'the render of /p/9 was never counted',
    });
  });

  it('merges a JSON file into the table, and lists it', async () => {
    const rows = Array.from({ length: jsonRows }, (_, i) => ({
      from: `/json/${i}`,
      to: `/p/${i}`,
      status: 308,
    }));
    const file = await writeFileIn('redirects.json', JSON.stringify(rows, null, 2));
    const res = await cli('shop', [
      'redirects',
      'import',
      file,
      '--merge',
      '--app',
      'rshop',
      '--env',
      'production',
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`rshop production: ${csvRows + 1 + jsonRows} redirects`);
    await waitFor(async () => (await get('rshop.localhost', '/json/2499')).status === 308, {
      timeoutMs: 10_000,
      message: 'the shield never answered /json/2499 from the merged table',
    });
    expect((await get('rshop.localhost', '/old/1')).status).toBe(301);

    const list = await cli('shop', [
      'redirects',
      'list',
      '--app',
      'rshop',
      '--env',
      'production',
      '--limit',
      '2',
      '--json',
    ]);
    expect(list.code, list.stderr).toBe(0);
    const page = JSON.parse(list.stdout) as { table: { count: number }; rows: unknown[] };
    expect(page.table.count).toBe(csvRows + 1 + jsonRows);
    expect(page.rows).toEqual([
      {
        from: '/campaign',
        to: 'https://example.com/landing?src=table',
        status: 302,
        forwardQueryString: true,
      },
      { from: '/json/0', to: '/p/0', status: 308, forwardQueryString: false },
    ]);
  });

  it('redirects a page the shield holds in its cache as soon as the table says so', async () => {
    for (let i = 0; i < 3; i++)
      expect((await get('rshop.localhost', '/p/7')).body).toBe('product 7');
    expect((await get('rshop.localhost', '/p/7')).headers['cache-status']).toMatch(
      /^flotilla; hit/,
    );
    const file = await writeFileIn('one.json', '[{ "from": "/p/7", "to": "/p/8" }]');
    const res = await cli('shop', [
      'redirects',
      'import',
      file,
      '--merge',
      '--app',
      'rshop',
      '--env',
      'production',
    ]);
    expect(res.code, res.stderr).toBe(0);
    await waitFor(async () => (await get('rshop.localhost', '/p/7')).status === 301, {
      timeoutMs: 10_000,
      message: 'the shield kept serving its cached /p/7 after the table redirected it',
    });
  });

  it('refuses a bad file with the line of each bad row, and changes nothing', async () => {
    const file = await writeFileIn(
      'bad.csv',
      'from,to,status\n/fine,/ok,301\nrelative,/x,301\n/y,/z,418\n/fine,/twice,\n',
    );
    const res = await cli('shop', [
      'redirects',
      'import',
      file,
      '--app',
      'rshop',
      '--env',
      'production',
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('3 bad rows, nothing imported');
    expect(res.stderr).toContain(
      `${file}:3: from must be a path starting with "/" (got "relative")`,
    );
    expect(res.stderr).toContain(
      `${file}:4: status must be one of 301, 302, 303, 307, 308 (got 418)`,
    );
    expect(res.stderr).toContain(`${file}:5: from /fine is already redirected on line 2`);
    const list = await cli('shop', ['redirects', 'list', '--app', 'rshop', '--env', 'production']);
    expect(list.stdout).toContain(`rshop production: ${csvRows + 2 + jsonRows} redirects`);
  });

  it("refuses a team another app's table: nats-server denies the request", async () => {
    const file = await writeFileIn('theirs.csv', 'from,to\n/hijack,https://evil.example/\n');
    const res = await cli('other', [
      'redirects',
      'import',
      file,
      '--app',
      'rshop',
      '--env',
      'production',
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('this credential may not import the redirects of app rshop');
    const clear = await cli('other', [
      'redirects',
      'clear',
      '--app',
      'rshop',
      '--env',
      'production',
    ]);
    expect(clear.code).toBe(1);
    expect(clear.stderr).toContain('may not clear the redirects of app rshop');
    // Nor may it have the shields prerender another team's app.
    await publishRefused(sf, 'team-other', prerenderSubject('rshop'));
    expect((await get('rshop.localhost', '/hijack')).status).not.toBe(301);
    expect((await get('rshop.localhost', '/old/3')).status).toBe(301);
  });

  it('clears the table: the paths are rendered again', async () => {
    const res = await cli('shop', ['redirects', 'clear', '--app', 'rshop', '--env', 'production']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`redirect table cleared (${csvRows + 2 + jsonRows} rows)`);
    await waitFor(async () => (await get('rshop.localhost', '/old/3')).status === 404, {
      timeoutMs: 10_000,
      message: 'the shield still redirects /old/3 after the table was cleared',
    });
  });
});

describe('pre-warm with a legacy proxy fallback', () => {
  it('publishing sends no request to the legacy origin; visitors still reach it', async () => {
    const dir = await writeApp({ name: 'rlegacy', backends: { legacy: legacy.url } }, LEGACY);
    legacyHits.length = 0;
    const res = await cli('legacy', ['publish', '--dir', dir, '--env', 'production']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/prewarm: warm on 1 worker\(s\) in 1 region\(s\)/);
    expect(legacyHits).toEqual([]);
    // The pre-warm rendered /home, a page the deployment renders itself.
    expect((await get('rlegacy.localhost', '/home')).body).toBe('new home');
    const old = await get('rlegacy.localhost', '/');
    expect(old.body).toBe('legacy /');
    expect(legacyHits).toEqual(['/']);
  });
});
