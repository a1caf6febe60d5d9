import { describe, expect, it } from 'vitest';
import {
  compileRegex,
  exactRegex,
  HEADER_REGEX_FLAGS,
  isRegexSpec,
  MAX_REGEX_CHARS,
  regexProblem,
  regexSpecOf,
} from './regex.ts';

describe('regexProblem', () => {
  it('accepts ordinary patterns and the flags i, m, s, u', () => {
    for (const source of [
      'Mobile',
      '^(yes|1)$',
      '^\\d+$',
      '[^/]+',
      '(?:ab)+c',
      '^(?<lang>en|fr)-[A-Z]{2}$',
      '(a|b)*',
      '(ab?)+',
      '\\(x+\\)+',
      '[(]a+[)]+',
      '(\\d+)?',
      '(?=a+)b',
    ]) {
      expect(regexProblem(source), source).toBeUndefined();
    }
    expect(regexProblem('bot', 'imsu')).toBeUndefined();
  });

  it('refuses a flag the matcher cannot carry, saying why', () => {
    expect(regexProblem('a', 'g')).toMatch(/has the flag "g", which the matcher cannot carry/);
    expect(regexProblem('a', 'g')).toMatch(/depend on the previous request/);
    expect(regexProblem('a', 'y')).toMatch(/flag "y"/);
    // Header rules replace (every match with g), so they may have g, never y.
    expect(regexProblem('a', 'gi', HEADER_REGEX_FLAGS)).toBeUndefined();
    expect(regexProblem('a', 'y', HEADER_REGEX_FLAGS)).toMatch(/\(only g, i, m, s, u\)/);
    expect(regexProblem('(a+)+', 'g', HEADER_REGEX_FLAGS)).toMatch(/nests a repetition/);
    expect(regexProblem('a', 'd')).toMatch(/flag "d"/);
  });

  it('refuses syntax errors and patterns past the length limit', () => {
    expect(regexProblem('(a')).toMatch(/^is not a valid regular expression: /);
    expect(regexProblem('a'.repeat(MAX_REGEX_CHARS + 1))).toMatch(/at most 512 are carried/);
  });

  it('refuses a repetition nested in a repetition (catastrophic backtracking)', () => {
    const cases: Array<[string, string]> = [
      ['^(a+)+$', '(a+)+'],
      ['(\\w*\\s?)*x', '(\\w*\\s?)*'],
      ['^(x{2,})+$', '(x{2,})+'],
      ['((ab)*c)+', '((ab)*c)+'],
      ['(?:[a-z]+\\.)*com', '(?:[a-z]+\\.)*'],
      ['(a+)+?', '(a+)+?'],
      ['(a*){2,5}', '(a*){2,5}'],
    ];
    for (const [source, shown] of cases) {
      expect(regexProblem(source), source).toContain(
        `nests a repetition inside a repetition (${JSON.stringify(shown)})`,
      );
    }
  });

  it('refuses what is not a string', () => {
    expect(regexProblem(42 as unknown as string)).toMatch(/must be a regular expression/);
  });
});

describe('compileRegex and friends', () => {
  it('compiles once per pattern and flags, never stateful', () => {
    const a = compileRegex({ regex: '^a', flags: 'i' });
    expect(compileRegex({ regex: '^a', flags: 'i' })).toBe(a);
    expect(compileRegex({ regex: '^a' })).not.toBe(a);
    expect(a.test('A')).toBe(true);
    expect(a.test('A')).toBe(true);
  });

  it('turns a RegExp into its manifest form and back', () => {
    expect(regexSpecOf(/^x-\d+$/)).toEqual({ regex: '^x-\\d+$' });
    expect(regexSpecOf(/bot/i)).toEqual({ regex: 'bot', flags: 'i' });
    expect(compileRegex(regexSpecOf(/bot/i)).test('GoogleBot')).toBe(true);
    expect(isRegexSpec({ regex: 'a' })).toBe(true);
    expect(isRegexSpec('a')).toBe(false);
    expect(isRegexSpec(null)).toBe(false);
  });

  it('makes an exact-value pattern with every special character escaped', () => {
    const re = new RegExp(exactRegex('a.b*(c)|d'));
    expect(re.test('a.b*(c)|d')).toBe(true);
    expect(re.test('aXb*(c)|d')).toBe(false);
    expect(re.test('xa.b*(c)|d')).toBe(false);
  });
});
