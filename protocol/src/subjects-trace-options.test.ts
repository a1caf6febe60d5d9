import { describe, expect, it } from 'vitest';
import { FlotillaError } from './errors.ts';
import { nonEmptyString, nonNegativeInt, positiveInt, required } from './options.ts';
import { isSubjectToken } from './patterns.ts';
import { regionSubjects } from './subjects.ts';
import { nextTraceparent, traceIdOf } from './trace.ts';

function thrown(fn: () => unknown): FlotillaError {
  try {
    fn();
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw new Error(`expected a FlotillaError, got ${String(err)}`);
  }
  throw new Error('expected an error, nothing was thrown');
}

describe('regionSubjects', () => {
  it('builds the subjects of a region', () => {
    const s = regionSubjects('us-east-1');
    expect(s.miss).toBe('flotilla.us-east-1.miss');
    expect(s.schedulerQueue).toBe('flotilla.us-east-1.schedulers');
    expect(s.heartbeat).toBe('flotilla.us-east-1.heartbeat');
    expect(s.workerRender('w-01')).toBe('flotilla.us-east-1.worker.w-01.render');
  });

  for (const region of ['a.b', '*', '>', 'US-EAST', '', '-lead', 'x'.repeat(64), 'a b', 'a\tb']) {
    it(`rejects region ${JSON.stringify(region)} as an invalid "region" option`, () => {
      const err = thrown(() => regionSubjects(region));
      expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(err.message).toContain('"region"');
    });
  }

  for (const id of ['w.1', '*', '>', 'W1', '']) {
    it(`rejects worker id ${JSON.stringify(id)}`, () => {
      const err = thrown(() => regionSubjects('local').workerRender(id));
      expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(err.message).toContain('"workerId"');
    });
  }

  it('isSubjectToken accepts up to 63 characters of a-z, 0-9 and dashes only', () => {
    expect(isSubjectToken('x'.repeat(63))).toBe(true);
    expect(isSubjectToken('0-a')).toBe(true);
    expect(isSubjectToken('x'.repeat(64))).toBe(false);
    expect(isSubjectToken('a_b')).toBe(false);
    expect(isSubjectToken(undefined)).toBe(false);
  });
});

describe('nextTraceparent', () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const FORMAT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

  it('keeps a valid trace id and flags, with a new span id', () => {
    const next = nextTraceparent(incoming);
    expect(next).toMatch(FORMAT);
    expect(traceIdOf(next)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(next.split('-')[2]).not.toBe('00f067aa0ba902b7');
    expect(next.endsWith('-01')).toBe(true);
    expect(nextTraceparent(incoming.replace(/-01$/, '-00')).endsWith('-00')).toBe(true);
  });

  it('accepts surrounding whitespace and upper-case hex', () => {
    expect(traceIdOf(nextTraceparent(`  ${incoming.toUpperCase()} `))).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  const invalid: Array<[string, string | null | undefined]> = [
    ['no header', undefined],
    ['null', null],
    ['an empty string', ''],
    ['garbage', 'hello'],
    ['an all-zero trace id', '00-00000000000000000000000000000000-00f067aa0ba902b7-01'],
    ['an all-zero parent id', '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01'],
    ['a short trace id', '00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01'],
    ['an unsupported version', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
  ];
  for (const [what, value] of invalid) {
    it(`starts a new sampled trace for ${what}`, () => {
      const next = nextTraceparent(value);
      expect(next).toMatch(FORMAT);
      expect(next.endsWith('-01')).toBe(true);
      expect(traceIdOf(next)).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(traceIdOf(next)).not.toMatch(/^0+$/);
    });
  }

  it('starts a different trace each time', () => {
    expect(traceIdOf(nextTraceparent())).not.toBe(traceIdOf(nextTraceparent()));
  });

  it('never repeats a trace or span id, across many refills of its random pool', () => {
    const made = Array.from({ length: 3000 }, () => nextTraceparent().split('-'));
    expect(new Set(made.map((p) => p[1])).size).toBe(3000);
    expect(new Set(made.map((p) => p[2])).size).toBe(3000);
    const spans = Array.from(
      { length: 3000 },
      () =>
        nextTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01').split('-')[2],
    );
    expect(new Set(spans).size).toBe(3000);
  });

  it('traceIdOf returns undefined for a malformed header', () => {
    expect(traceIdOf('nope')).toBeUndefined();
  });
});

describe('option validators', () => {
  it('return the value, or the fallback when undefined', () => {
    expect(positiveInt('threads', 4, 1)).toBe(4);
    expect(positiveInt('threads', undefined, 1)).toBe(1);
    expect(nonNegativeInt('port', 0, 3000)).toBe(0);
    expect(nonNegativeInt('port', undefined, 3000)).toBe(3000);
    expect(nonEmptyString('region', 'eu', 'local')).toBe('eu');
    expect(nonEmptyString('region', undefined, 'local')).toBe('local');
    const conn = {};
    expect(required('connection', conn)).toBe(conn);
  });

  const cases: Array<[string, () => unknown, RegExp]> = [
    [
      'positiveInt(0)',
      () => positiveInt('threads', 0, 1),
      /option "threads" must be a positive integer, got 0/,
    ],
    ['positiveInt(1.5)', () => positiveInt('threads', 1.5, 1), /option "threads".*got 1\.5/],
    ['positiveInt("4")', () => positiveInt('threads', '4', 1), /option "threads".*got "4"/],
    ['positiveInt(NaN)', () => positiveInt('threads', Number.NaN, 1), /option "threads".*got NaN/],
    [
      'positiveInt(Infinity)',
      () => positiveInt('threads', Number.POSITIVE_INFINITY, 1),
      /"threads"/,
    ],
    [
      'nonNegativeInt(-1)',
      () => nonNegativeInt('port', -1, 3000),
      /option "port" must be an integer ≥ 0, got -1/,
    ],
    ['nonNegativeInt(null)', () => nonNegativeInt('port', null, 3000), /option "port".*got null/],
    [
      'nonEmptyString("  ")',
      () => nonEmptyString('region', '  '),
      /option "region" must be a non-empty string/,
    ],
    [
      'nonEmptyString(undefined) with no fallback',
      () => nonEmptyString('region', undefined),
      /"region".*undefined/,
    ],
    ['nonEmptyString([])', () => nonEmptyString('region', []), /"region".*an array/],
    [
      'required(undefined)',
      () => required('connection', undefined),
      /option "connection" is required/,
    ],
    ['required(null)', () => required('connection', null), /option "connection" is required/],
  ];
  for (const [what, fn, message] of cases) {
    it(`${what} throws FLOTILLA_ERR_INVALID_OPTION naming the option`, () => {
      const err = thrown(fn);
      expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(err.message).toMatch(message);
    });
  }
});
