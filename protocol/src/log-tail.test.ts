import { describe, expect, it } from 'vitest';
import {
  decodeTailAnswer,
  decodeTailRequest,
  encodeTailAnswer,
  encodeTailRequest,
  type LogEntry,
  MAX_TAIL_LEASE_MS,
  tailMatcher,
} from './log-tail.ts';
import {
  appOfLogSubject,
  LOG_SUBJECT_PATTERNS,
  logLinesSubject,
  logTailSubject,
  regionSubjectPatterns,
} from './subjects.ts';

const access = (fields: Record<string, unknown>): LogEntry => ({
  time: '2026-01-01T00:00:00.000Z',
  source: 'access',
  app: 'shop',
  environment: 'production',
  status: 200,
  path: '/p/1',
  cache: 'hit',
  ...fields,
});
const app = (fields: Record<string, unknown> = {}): LogEntry => ({
  time: '2026-01-01T00:00:00.000Z',
  source: 'app',
  app: 'shop',
  environment: 'production',
  level: 'warn',
  msg: 'slow',
  ...fields,
});

describe('log tail subjects', () => {
  it('are derived from the app, and the app is read back from them', () => {
    expect(logTailSubject('shop')).toBe('flotilla.logs.tail.shop');
    expect(logLinesSubject('shop')).toBe('flotilla.logs.lines.shop');
    expect(appOfLogSubject(logTailSubject('shop'))).toBe('shop');
    expect(appOfLogSubject(logLinesSubject('a-b-1'))).toBe('a-b-1');
    expect(appOfLogSubject('flotilla.logs.tail.*')).toBeUndefined();
    expect(appOfLogSubject('flotilla.test.ack.x')).toBeUndefined();
  });

  it('refuse app names that would add tokens or wildcards', () => {
    for (const bad of ['*', '>', 'a.b', 'Shop', '']) {
      expect(() => logTailSubject(bad)).toThrow(/app/);
      expect(() => logLinesSubject(bad)).toThrow(/app/);
    }
  });

  it('match no region subject pattern (so region permissions never cover them)', () => {
    const tokens = (s: string) => s.split('.');
    const matches = (pattern: string, subject: string) => {
      const p = tokens(pattern);
      const s = tokens(subject);
      return p.length === s.length && p.every((t, i) => t === '*' || t === s[i]);
    };
    const patterns = Object.values(regionSubjectPatterns());
    for (const name of ['ack', 'scheduler', 'worker', 'heartbeat', 'miss']) {
      for (const subject of [logTailSubject(name), logLinesSubject(name)]) {
        for (const pattern of patterns) expect(matches(pattern, subject), pattern).toBe(false);
      }
    }
    expect(LOG_SUBJECT_PATTERNS).toEqual({
      tail: 'flotilla.logs.tail.*',
      lines: 'flotilla.logs.lines.*',
    });
  });
});

describe('tail requests and answers', () => {
  it('round-trip; leases and recent counts are bounded', () => {
    const req = decodeTailRequest(
      encodeTailRequest({ tailId: 't-1', filter: { status: ['5xx'] }, leaseMs: 10_000, recent: 5 }),
    );
    expect(req).toEqual({ tailId: 't-1', filter: { status: ['5xx'] }, leaseMs: 10_000, recent: 5 });
    const wild = decodeTailRequest(
      encodeTailRequest({
        tailId: 't-2',
        filter: {},
        leaseMs: 10 * MAX_TAIL_LEASE_MS,
        recent: 1e9,
      }),
    );
    expect(wild.leaseMs).toBe(0);
    expect(wild.recent).toBe(100);
  });

  it('refuse a request without a usable tail id', () => {
    expect(() =>
      decodeTailRequest(encodeTailRequest({ tailId: 'a b', filter: {}, leaseMs: 0, recent: 1 })),
    ).toThrow(/tail request has the wrong shape: tailId/);
  });

  it('drop lines of an answer that are not log lines', () => {
    const body = encodeTailAnswer({
      role: 'shield',
      id: 'h-1',
      region: 'r',
      dropped: 2,
      refused: false,
      lines: [access({}), { nope: 1 } as unknown as LogEntry],
    });
    const answer = decodeTailAnswer(body);
    expect(answer.lines).toEqual([access({})]);
    expect(answer.dropped).toBe(2);
  });
});

describe('tailMatcher', () => {
  it('passes everything without a filter', () => {
    const match = tailMatcher({});
    expect(match(access({}))).toBe(true);
    expect(match(app())).toBe(true);
  });

  it.each([
    [{ status: ['5xx'] }, access({ status: 503 }), true],
    [{ status: ['5xx'] }, access({ status: 404 }), false],
    [{ status: ['404', '5xx'] }, access({ status: 404 }), true],
    [{ status: ['404'] }, access({ status: 4040 }), false],
    [{ path: '/p/' }, access({ path: '/p/1' }), true],
    [{ path: '/p/' }, access({ path: '/q/1' }), false],
    [{ path: '/p/*' }, access({ path: '/p/1' }), true],
    [{ path: '/p/*' }, access({ path: '/p/1/2' }), false],
    [{ path: '/p/**' }, access({ path: '/p/1/2' }), true],
    [{ path: '/*.css' }, access({ path: '/a.css' }), true],
    [{ path: '/*.css' }, access({ path: '/acss' }), false],
    [{ cache: ['hit', 'stale'] }, access({ cache: 'stale' }), true],
    [{ cache: ['hit'] }, access({ cache: 'miss' }), false],
    [{ source: 'app' as const }, access({}), false],
    [{ source: 'app' as const }, app(), true],
    [{ environment: 'staging' }, app(), false],
    [{ environment: 'production' }, app(), true],
    // Request filters keep access lines only.
    [{ status: ['2xx'] }, app(), false],
    [{ path: '/' }, app(), false],
  ])('%j on %j: %s', (filter, line, expected) => {
    expect(tailMatcher(filter)(line)).toBe(expected);
  });
});
