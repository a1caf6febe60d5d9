import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import {
  decodeRegionPrewarmResult,
  encodePrewarm,
  PREWARM_SUBJECT,
  PROBE_SUBJECT,
  PURGE_SUBJECT,
  prewarmQueue,
  probeQueue,
  regionSubjectPatterns,
  regionSubjects,
} from '@flotilla/protocol';
import {
  type HttpReply,
  httpRequest,
  publishBundle,
  runCli,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  publicKeyOf,
  publishRefused,
  type SecuredFleet,
  startSecuredFleet,
  subscribeRefused,
  trySubscribe,
} from './secured-fleet.ts';

/**
 * Least privilege on the fleet's own subjects, on a real nats-server
 * started with the generated `auth.conf` and a fleet (region `test`) whose
 * roles each connect with their own credential: every role may use only
 * the subjects its code uses (`cli/src/auth/permissions.ts`), reads only its
 * own replies, and the render path still works under those permissions,
 * replies in chunks included. Region-bound credentials (`flotilla auth
 * region`) keep a region's roles to its subjects. The control-plane side
 * (teams, the control service) is authorization.test.ts.
 */

let sf: SecuredFleet;
/** The deployment of app pages. */
let pagesId: string;

/** A bundle answering a body of `?n=` bytes of `x`; with `&stream`, as a stream of 64 KiB chunks. */
const PAGES = {
  name: 'pages',
  code: `Flotilla.serve((req) => {
    const params = new URL(req.url).searchParams;
    const n = Number(params.get('n'));
    if (!params.has('stream')) return new Response(new Uint8Array(n).fill(120));
    let left = n;
    return new Response(new ReadableStream({
      pull(c) {
        if (left <= 0) return c.close();
        const size = Math.min(65536, left);
        left -= size;
        c.enqueue(new Uint8Array(size).fill(120));
      },
    }));
  });`,
};

beforeAll(async () => {
  sf = await startSecuredFleet({ shop: ['alpha'], other: ['beta'] });
  // Published with the operator's credential straight to JetStream (the operator may).
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-auth-pages-'));
  try {
    const cp = new ControlPlane({ store: await JetStreamControlStore.open(sf.operator) });
    pagesId = await publishBundle(cp, dir, PAGES);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);

afterAll(async () => {
  await sf?.stop();
});

/** GET `/?n=<n>` of app pages through `shield` until it answers 200 (the fleet may still be loading it). */
async function pages(shield: string, n: number, stream = false): Promise<HttpReply> {
  let res: HttpReply | undefined;
  await waitFor(
    async () => {
      res = await httpRequest(shield, `/?n=${n}${stream ? '&stream' : ''}`, {
        host: 'pages.localhost',
        timeoutMs: 30_000,
      });
      return res.status === 200;
    },
    { timeoutMs: 60_000, message: `${shield} never served app pages` },
  );
  return res as HttpReply;
}

describe('least privilege on the fleet’s own subjects', () => {
  // The fleet runs in region `test`; `eu-west` stands for any other region.
  const home = regionSubjects('test');
  const other = regionSubjects('eu-west');
  const homeAny = regionSubjectPatterns('test');
  const otherAny = regionSubjectPatterns('eu-west');

  it.each([
    ['shield', other.miss, 'another region’s misses'],
    ['shield', home.miss, 'its own region’s misses'],
    ['shield', homeAny.workerRender, 'the workers’ render dispatch'],
    ['shield', otherAny.workerRender, 'another region’s render dispatch'],
    ['shield', homeAny.workerPrewarm, 'the workers’ pre-warm dispatch'],
    ['shield', home.heartbeat, 'the workers’ heartbeats'],
    ['shield', PREWARM_SUBJECT, 'pre-warm requests'],
    ['worker', home.miss, 'misses'],
    ['worker', homeAny.ack, 'the schedulers’ acks to shields'],
    ['worker', PURGE_SUBJECT, 'purges'],
    ['scheduler', PURGE_SUBJECT, 'purges'],
    ['control', home.miss, 'misses'],
    ['control', homeAny.workerRender, 'the workers’ render dispatch'],
    ['team-shop', home.miss, 'misses'],
    ['team-shop', 'flotilla.>', 'the fleet’s subjects'],
    // Schedulers take misses, pre-warms and probes only in their queue groups.
    ['scheduler', home.miss, 'every miss, outside the schedulers’ queue group'],
    ['scheduler', PREWARM_SUBJECT, 'every region’s pre-warm requests'],
  ])(
    'NATS refuses the %s a subscription to %s (%s)',
    async (credential, subject) => {
      await subscribeRefused(sf, credential, subject);
    },
    60_000,
  );

  it('still lets a shield hear its region’s schedulers (the refusals above are not blanket)', async () => {
    const outcome = await trySubscribe(sf, 'shield', home.schedulerHeartbeat);
    expect(outcome).toEqual({ received: home.schedulerHeartbeat });
  }, 60_000);

  it.each(['shield', 'worker', 'scheduler', 'control', 'team-shop'])(
    'NATS refuses the %s a subscription to every reply (_INBOX.>)',
    async (credential) => {
      await subscribeRefused(sf, credential, '_INBOX.>');
    },
    60_000,
  );

  it('a team cannot read another team’s replies, nor a role’s; it reads its own', async () => {
    const otherInbox = `_INBOX.${await publicKeyOf(sf.creds('team-other'))}.>`;
    await subscribeRefused(sf, 'team-shop', otherInbox);
    await subscribeRefused(sf, 'team-shop', `_INBOX.${await publicKeyOf(sf.creds('control'))}.>`);
    await subscribeRefused(sf, 'shield', otherInbox);
    const own = `_INBOX.${await publicKeyOf(sf.creds('team-shop'))}.x`;
    expect(await trySubscribe(sf, 'team-shop', own)).toEqual({ received: own });
  }, 60_000);

  it.each([
    ['shield', home.workerRender('forged')],
    ['shield', home.ack('another-shield')],
    ['worker', home.miss],
    ['worker', home.workerRender('another-worker')],
    // Shields send purges for their admin API (cache-tiers-secured.test.ts); nobody else.
    ['worker', PURGE_SUBJECT],
    ['scheduler', PURGE_SUBJECT],
  ])(
    'a role cannot act in another’s place: NATS refuses the %s a publish to %s',
    async (credential, subject) => {
      await publishRefused(sf, credential, subject);
    },
    60_000,
  );
});

describe('JetStream under the roles’ permissions', () => {
  it.each(['shield', 'worker', 'scheduler', 'control'])(
    'NATS refuses the %s a stream of its own (one could capture any subject)',
    async (credential) => {
      for (const subjects of [['flotilla.>'], ['_INBOX.>']]) {
        await publishRefused(
          sf,
          credential,
          '$JS.API.STREAM.CREATE.SPY',
          JSON.stringify({ name: 'SPY', subjects }),
        );
      }
      const names = (
        await sf.operator.request('$JS.API.STREAM.NAMES', '{}', { timeout: 5000 })
      ).json<{ streams: string[] | null }>();
      expect(names.streams ?? []).not.toContain('SPY');
    },
    60_000,
  );
});

describe('the render path under the roles’ permissions', () => {
  it('a page larger than one NATS message crosses worker → scheduler → shield in chunks', async () => {
    const n = 3_000_000; // three chunks under the default 1 MiB max_payload
    const res = await pages(sf.fleet.shield.url, n);
    expect(res.body.length).toBe(n);
    expect(res.body).toMatch(/^x+$/);
  }, 90_000);

  it('a streamed page: the shield pulls its body straight from the worker', async () => {
    const n = 3_000_000;
    const res = await pages(sf.fleet.shield.url, n, true);
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(res.body.length).toBe(n);
    expect(res.body).toMatch(/^x+$/);
  }, 90_000);
});

describe('region-bound credentials (flotilla auth region)', () => {
  const test = regionSubjects('test');
  const south = regionSubjects('ap-south');

  it('a region’s own shield, scheduler and worker serve its traffic', async () => {
    const res = await runCli([
      'auth',
      'region',
      'eu-west',
      '--secondary',
      'test',
      '--dir',
      sf.authDir,
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(sf.creds('shield-eu-west'));
    await sf.fleet.nats.reload();
    const scoped = (role: 'shield' | 'scheduler' | 'worker') =>
      sf.fleet.add(role, { region: 'eu-west', args: ['--creds', sf.creds(`${role}-eu-west`)] });
    await Promise.all([scoped('scheduler'), scoped('worker')]);
    const shield = await scoped('shield');
    // Region eu-west's only scheduler and worker are the scoped ones: the
    // page crossed them, in chunks.
    const n = 2_000_000;
    expect((await pages(shield.url, n)).body.length).toBe(n);
  }, 120_000);

  it.each([
    ['shield-eu-west', south.schedulerHeartbeat],
    ['shield-eu-west', regionSubjectPatterns('ap-south').ack],
    ['scheduler-eu-west', test.miss],
    ['scheduler-eu-west', test.heartbeat],
    ['worker-eu-west', regionSubjectPatterns('test').workerRender],
    ['worker-eu-west', regionSubjectPatterns('ap-south').workerPrewarm],
  ])(
    'NATS refuses the %s a subscription to %s',
    async (credential, subject) => {
      await subscribeRefused(sf, credential, subject);
    },
    60_000,
  );

  it.each([
    ['shield-eu-west', south.miss],
    ['scheduler-eu-west', test.workerRender('w-1')],
    ['worker-eu-west', test.heartbeat],
  ])(
    'NATS refuses the %s a publish to %s',
    async (credential, subject) => {
      await publishRefused(sf, credential, subject);
    },
    60_000,
  );

  it('keeps the eu-west scheduler out of the other regions’ queue groups', async () => {
    await subscribeRefused(sf, 'scheduler-eu-west', PREWARM_SUBJECT, prewarmQueue('test'));
    await subscribeRefused(sf, 'scheduler-eu-west', PROBE_SUBJECT, probeQueue('test'));
    await subscribeRefused(sf, 'scheduler-eu-west', test.miss, test.schedulerQueue);
  }, 60_000);

  it('a pre-warm reaches both regions’ schedulers, each in its own queue group', async () => {
    const replies = await sf.operator.requestMany(
      PREWARM_SUBJECT,
      encodePrewarm({ deploymentId: pagesId, timeoutMs: 20_000 }),
      { strategy: 'count', maxMessages: 2, maxWait: 30_000 },
    );
    const regions: string[] = [];
    for await (const msg of replies) regions.push(decodeRegionPrewarmResult(msg.data).region);
    expect(regions.sort()).toEqual(['eu-west', 'test']);
  }, 60_000);

  it('lets the eu-west shield hear the schedulers of its secondary region', async () => {
    expect(await trySubscribe(sf, 'shield-eu-west', test.schedulerHeartbeat)).toEqual({
      received: test.schedulerHeartbeat,
    });
  }, 60_000);
});
