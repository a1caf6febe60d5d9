import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { LOG_SUBJECT_PATTERNS, logLinesSubject, logTailSubject } from '@flotilla/protocol';
import { httpRequest, publishBundle, runCli, waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  publishRefused,
  type SecuredFleet,
  startSecuredFleet,
  subscribeRefused,
  trySubscribe,
} from './secured-fleet.ts';

/**
 * `flotilla logs` on a secured fleet: a team tails only its own apps (NATS
 * refuses it another app's tail requests and lines subject), and the roles
 * get no more of the log subjects than they use.
 */

let sf: SecuredFleet;

beforeAll(async () => {
  sf = await startSecuredFleet({ shop: ['alpha'], other: ['beta'] });
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-auth-logs-'));
  try {
    const cp = new ControlPlane({ store: await JetStreamControlStore.open(sf.operator) });
    for (const name of ['alpha', 'beta']) {
      await publishBundle(cp, dir, {
        name,
        code: `Flotilla.serve(() => { console.warn('${name} rendered'); return new Response('${name}'); });`,
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);

afterAll(async () => {
  await sf?.stop();
});

/** `flotilla logs --app <app> --json` with the credential of `team`. */
function logsAs(team: string, app: string) {
  return runCli([
    'logs',
    '--app',
    app,
    '--json',
    '--nats',
    sf.fleet.nats.url,
    '--creds',
    sf.creds(`team-${team}`),
  ]);
}

describe('who may tail which app’s logs', () => {
  it('a team tails its own app: the shield’s access lines and the worker’s console lines', async () => {
    await waitFor(
      async () => {
        const res = await httpRequest(sf.fleet.shield.url, '/a', {
          host: 'alpha.localhost',
          timeoutMs: 30_000,
        });
        return res.status === 200;
      },
      { timeoutMs: 60_000, message: 'the shield never served app alpha' },
    );
    let out = '';
    await waitFor(
      async () => {
        const res = await logsAs('shop', 'alpha');
        expect(res.code, res.stderr).toBe(0);
        out = res.stdout;
        return out.includes('"source":"access"') && out.includes('"msg":"alpha rendered"');
      },
      { timeoutMs: 60_000, message: 'team shop never saw alpha’s lines' },
    );
    expect(out).not.toContain('beta');
  }, 120_000);

  it('the CLI refuses a team another team’s app (exit 1, refused by the fleet)', async () => {
    const res = await logsAs('shop', 'beta');
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stderr)).toEqual({
      error: {
        code: 'FLOTILLA_ERR_FORBIDDEN',
        message: expect.stringContaining(
          'this credential may not list the environments of app beta',
        ),
      },
    });
    expect(res.stdout).toBe('');
  }, 60_000);

  it('NATS refuses a team the tail requests of another team’s app', async () => {
    await publishRefused(sf, 'team-shop', logTailSubject('beta'));
    await publishRefused(sf, 'team-shop', LOG_SUBJECT_PATTERNS.tail);
  }, 60_000);

  it.each([
    ['team-shop', logLinesSubject('beta'), 'another team’s app’s lines'],
    ['team-shop', LOG_SUBJECT_PATTERNS.lines, 'every app’s lines'],
    ['team-shop', 'flotilla.logs.>', 'every log subject'],
    ['shield', LOG_SUBJECT_PATTERNS.lines, 'the lines (it publishes them)'],
    ['worker', logLinesSubject('alpha'), 'the lines (it publishes them)'],
    ['scheduler', LOG_SUBJECT_PATTERNS.tail, 'tail requests (it has no log lines)'],
    ['control', LOG_SUBJECT_PATTERNS.lines, 'the lines'],
  ])(
    'NATS refuses the %s a subscription to %s (%s)',
    async (credential, subject) => {
      await subscribeRefused(sf, credential, subject);
    },
    60_000,
  );

  it.each([
    ['shield', logTailSubject('alpha')],
    ['worker', logTailSubject('alpha')],
    ['scheduler', logLinesSubject('alpha')],
    ['team-shop', logLinesSubject('alpha')],
  ])(
    'a credential cannot forge log traffic: NATS refuses the %s a publish to %s',
    async (credential, subject) => {
      await publishRefused(sf, credential, subject);
    },
    60_000,
  );

  it('lets a team read its own app’s lines subject (the refusals above are not blanket)', async () => {
    const own = logLinesSubject('alpha');
    expect(await trySubscribe(sf, 'team-shop', own)).toEqual({ received: own });
  }, 60_000);
});
