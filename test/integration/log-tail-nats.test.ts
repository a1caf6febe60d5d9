import { LogTail } from '@flotilla/fleet';
import {
  decodeTailAnswer,
  encodeTailRequest,
  logLinesSubject,
  logTailSubject,
  type TailAnswer,
} from '@flotilla/protocol';
import { type NatsServerHandle, startNatsServer, waitFor } from '@flotilla/test-harness';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * The process side of `flotilla logs` (`LogTail`) on a real nats-server:
 * what it keeps, answers and publishes, and every bound (recent lines per
 * app, apps, tails, lines per second, bytes per message). A fake clock
 * drives the leases and the rate window; NATS is real.
 */

let nats: NatsServerHandle;
let client: NatsConnection;
let processNc: NatsConnection;
const tails: LogTail[] = [];
let clock = 1_000_000;

beforeAll(async () => {
  nats = await startNatsServer();
  client = await connect({ servers: nats.url, name: 'tailer' });
  processNc = await connect({ servers: nats.url, name: 'shield' });
});

afterEach(() => {
  for (const t of tails.splice(0)) t.close();
});

afterAll(async () => {
  await client?.close();
  await processNc?.close();
  await nats?.stop();
});

function startTail(limits: ConstructorParameters<typeof LogTail>[0]['limits'] = {}): LogTail {
  const tail = new LogTail({
    connection: processNc,
    role: 'shield',
    id: 'h-test',
    region: 'test',
    limits: { flushMs: 10, ...limits },
    clock: () => clock,
  });
  tail.start();
  tails.push(tail);
  return tail;
}

const access = (app: string, path: string, status = 200) => ({
  msg: 'access',
  app,
  environment: 'production',
  method: 'GET',
  path,
  status,
  cache: 'miss',
});

/** Asks `app`'s tail subject; resolves with the one answer. */
async function ask(app: string, request: Parameters<typeof encodeTailRequest>[0]) {
  await processNc.flush();
  const msg = await client.request(logTailSubject(app), encodeTailRequest(request), {
    timeout: 5000,
  });
  return decodeTailAnswer(msg.data);
}

/** Collects the batches published for `app`. */
function listen(app: string): { batches: TailAnswer[]; lines: () => unknown[]; stop(): void } {
  const batches: TailAnswer[] = [];
  const sub = client.subscribe(logLinesSubject(app), {
    callback: (err, msg) => {
      if (!err) batches.push(decodeTailAnswer(msg.data));
    },
  });
  return { batches, lines: () => batches.flatMap((b) => b.lines), stop: () => sub.unsubscribe() };
}

describe('LogTail', () => {
  it('answers with the recent matching lines of the app asked about, oldest first, bounded', async () => {
    const tail = startTail({ recentPerApp: 3 });
    for (let i = 1; i <= 5; i++)
      tail.record('access', access('shop', `/p/${i}`, i === 4 ? 500 : 200));
    tail.record('access', access('other', '/o/1'));
    tail.record('app', {
      level: 'warn',
      msg: 'slow',
      source: 'app',
      deployment: 'shop-0123456789ab',
    });
    tail.record('access', { msg: 'access', path: '/nobody', status: 404 }); // no app: not kept
    const all = await ask('shop', { tailId: 't1', filter: {}, leaseMs: 0, recent: 100 });
    expect(all).toMatchObject({ role: 'shield', id: 'h-test', region: 'test' });
    // 3 kept: the app line pushed /p/3 out.
    expect(all.lines.map((l) => l.path ?? l.msg)).toEqual(['/p/4', '/p/5', 'slow']);
    expect(all.lines[2]).toMatchObject({ source: 'app', level: 'warn', app: 'shop' });
    const errors = await ask('shop', {
      tailId: 't1',
      filter: { status: ['5xx'] },
      leaseMs: 0,
      recent: 100,
    });
    expect(errors.lines.map((l) => l.path)).toEqual(['/p/4']);
    const one = await ask('shop', { tailId: 't1', filter: {}, leaseMs: 0, recent: 1 });
    expect(one.lines.map((l) => l.msg)).toEqual(['slow']);
  });

  it('forgets the least recently logged app past its bound of apps', async () => {
    const tail = startTail({ apps: 2 });
    tail.record('access', access('a', '/a'));
    tail.record('access', access('b', '/b'));
    tail.record('access', access('a', '/a2'));
    tail.record('access', access('c', '/c')); // forgets b, logged least recently
    expect((await ask('b', { tailId: 't', filter: {}, leaseMs: 0, recent: 10 })).lines).toEqual([]);
    expect(
      (await ask('a', { tailId: 't', filter: {}, leaseMs: 0, recent: 10 })).lines,
    ).toHaveLength(2);
  });

  it('publishes nothing while nobody tails; during a lease the matching lines, until it ends', async () => {
    const tail = startTail();
    const heard = listen('shop');
    tail.record('access', access('shop', '/before'));
    await ask('shop', { tailId: 'f1', filter: { path: '/p/' }, leaseMs: 5000, recent: 0 });
    expect(tail.tails).toBe(1);
    tail.record('access', access('shop', '/p/1'));
    tail.record('access', access('shop', '/q/1')); // filtered out
    tail.record('access', access('other', '/p/1')); // another app
    await waitFor(() => heard.lines().length === 1, { timeoutMs: 10_000 });
    expect(heard.lines()).toEqual([expect.objectContaining({ path: '/p/1', app: 'shop' })]);
    // The lease runs out (fake clock): the next line is kept, not published.
    clock += 5000;
    tail.record('access', access('shop', '/p/2'));
    expect(tail.tails).toBe(0);
    // A renewed tail that ends at once (leaseMs 0) publishes nothing either.
    await ask('shop', { tailId: 'f2', filter: {}, leaseMs: 5000, recent: 0 });
    await ask('shop', { tailId: 'f2', filter: {}, leaseMs: 0, recent: 0 });
    tail.record('access', access('shop', '/p/3'));
    await client.flush();
    await processNc.flush();
    // Everything published so far has arrived once the tail's own answer did.
    await ask('shop', { tailId: 'f3', filter: {}, leaseMs: 0, recent: 0 });
    expect(heard.lines()).toHaveLength(1);
    heard.stop();
  });

  it('bounds the lines published per second per app, and counts the ones left out', async () => {
    const tail = startTail({ linesPerSecond: 5 });
    const heard = listen('shop');
    await ask('shop', { tailId: 'r', filter: {}, leaseMs: 60_000, recent: 0 });
    for (let i = 0; i < 12; i++) tail.record('access', access('shop', `/p/${i}`));
    await waitFor(() => heard.lines().length === 5, { timeoutMs: 10_000 });
    clock += 1000; // the next second
    tail.record('access', access('shop', '/p/next'));
    await waitFor(() => heard.lines().length === 6, { timeoutMs: 10_000 });
    expect(heard.batches.reduce((n, b) => n + b.dropped, 0)).toBe(7);
    expect(heard.lines().at(-1)).toMatchObject({ path: '/p/next' });
    heard.stop();
  });

  it('follows a bounded number of tails; more are answered without a lease', async () => {
    const tail = startTail({ tails: 2 });
    const refused: boolean[] = [];
    for (const id of ['a', 'b', 'c']) {
      const answer = await ask('shop', { tailId: id, filter: {}, leaseMs: 60_000, recent: 0 });
      expect(answer.role).toBe('shield');
      refused.push(answer.refused);
    }
    expect(refused).toEqual([false, false, true]);
    expect(tail.tails).toBe(2);
    // Renewing one it follows keeps the count.
    await ask('shop', { tailId: 'a', filter: {}, leaseMs: 60_000, recent: 0 });
    expect(tail.tails).toBe(2);
  });

  it('splits what it publishes into messages of bounded size and cuts long console lines', async () => {
    const tail = startTail({ maxMessageBytes: 2000 });
    const heard = listen('shop');
    await ask('shop', { tailId: 'big', filter: {}, leaseMs: 60_000, recent: 0 });
    for (let i = 0; i < 20; i++) tail.record('access', access('shop', `/p/${'x'.repeat(200)}${i}`));
    tail.record('app', { level: 'info', msg: 'y'.repeat(10_000), deployment: 'shop-0123456789ab' });
    await waitFor(() => heard.lines().length === 21, { timeoutMs: 10_000 });
    expect(heard.batches.length).toBeGreaterThan(2);
    const long = heard.lines().at(-1) as { msg: string; truncated: boolean };
    expect(long.msg.length).toBe(4096);
    expect(long.truncated).toBe(true);
    heard.stop();
  });

  it('ignores requests that are not tail requests', async () => {
    startTail();
    await expect(
      client.request(logTailSubject('shop'), 'not json', { timeout: 500 }),
    ).rejects.toThrow();
  });
});
