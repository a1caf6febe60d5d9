/**
 * Regular expressions the manifest carries (route criteria on header,
 * cookie and query values, path-parameter constraints, cache-key
 * partitions): their JSON form, the checks that refuse what the matcher
 * cannot carry, and one compiled copy shared by the shield and the bundle.
 *
 * @module
 */

/** A regular expression as the manifest stores it: `RegExp.source` and its flags. */
export interface RegexSpec {
  /** The pattern (`RegExp.source`). */
  regex: string;
  /** Flags, a subset of {@link REGEX_FLAGS}; absent: none. */
  flags?: string | undefined;
}

/**
 * Flags a carried regular expression may have: `i`, `m`, `s`, `u`. `g` and
 * `y` make `test()` stateful (the answer would depend on the previous
 * request), `d` and `v` are refused as having no use here.
 */
export const REGEX_FLAGS = 'imsu';

/**
 * Flags a header rule's regular expression may have (`updateResponseHeader`
 * and the like): those of {@link REGEX_FLAGS} and `g`, replacing every
 * match (`replace()` keeps no state between requests, even with `g`).
 */
export const HEADER_REGEX_FLAGS = 'gimsu';

/** Longest pattern carried, in characters. */
export const MAX_REGEX_CHARS = 512;

/**
 * What is wrong with a pattern the matcher would carry, or undefined when
 * nothing is. Refused: a pattern longer than {@link MAX_REGEX_CHARS}, a flag
 * outside `allowed`, a syntax error, and a repeated group that
 * itself holds a repetition (`(a+)+`, `(\w*\s?)*`, `(x{2,})+`), the shape
 * of catastrophic backtracking. The nesting check is a scan of the pattern,
 * not a library: it also runs inside every app's isolate, where a regular
 * expression parser would weigh on each bundle.
 *
 * @example
 * regexProblem('^(a+)+$', '');  // 'nests a repetition inside a repetition ("(a+)+"), …'
 * regexProblem('Mobile', 'i');  // undefined
 */
export function regexProblem(
  source: string,
  flags = '',
  allowed: string = REGEX_FLAGS,
): string | undefined {
  if (typeof source !== 'string') return 'must be a regular expression (a string pattern)';
  if (source.length > MAX_REGEX_CHARS) {
    return `is ${source.length} characters long; at most ${MAX_REGEX_CHARS} are carried`;
  }
  if (typeof flags !== 'string') return 'has flags that are not a string';
  for (const flag of flags) {
    if (!allowed.includes(flag)) {
      return `has the flag "${flag}", which the matcher cannot carry (only ${[...allowed].join(', ')}): ${
        flag === 'g' || flag === 'y'
          ? 'it makes matching depend on the previous request; leave it out'
          : 'leave it out'
      }`;
    }
  }
  try {
    new RegExp(source, flags);
  } catch (err) {
    return `is not a valid regular expression: ${(err as Error).message}`;
  }
  const nested = nestedRepetition(source);
  if (nested !== undefined) {
    return `nests a repetition inside a repetition (${JSON.stringify(nested)}), which can take exponential time on a crafted value; write it without the outer or inner repetition`;
  }
  return undefined;
}

interface Frame {
  start: number;
  repeats: boolean;
}

/** The first `(…inner repetition…)` followed by a repetition, or undefined. */
function nestedRepetition(source: string): string | undefined {
  const stack: Frame[] = [{ start: 0, repeats: false }];
  let i = 0;
  // A quantifier at `at`: its end index and whether it allows more than one.
  const quantifier = (at: number): { end: number; many: boolean } | undefined => {
    const c = source[at];
    if (c === '*' || c === '+') return { end: at + 1, many: true };
    if (c === '?') return { end: at + 1, many: false };
    if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(at));
      if (!m) return undefined;
      const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
      return { end: at + m[0].length, many: max > 1 };
    }
    return undefined;
  };
  const afterAtom = (atomStart: number, atomRepeats: boolean, next: number): string | undefined => {
    const q = quantifier(next);
    const top = stack[stack.length - 1] as Frame;
    if (!q) {
      if (atomRepeats) top.repeats = true;
      i = next;
      return undefined;
    }
    let end = q.end;
    if (source[end] === '?') end++; // lazy
    if (q.many && atomRepeats) return source.slice(atomStart, end);
    if (q.many || atomRepeats) top.repeats = true;
    i = end;
    return undefined;
  };
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\\') {
      const found = afterAtom(i, false, i + 2);
      if (found !== undefined) return found;
    } else if (c === '[') {
      let j = i + 1;
      if (source[j] === '^') j++;
      if (source[j] === ']') j++;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      const found = afterAtom(i, false, j + 1);
      if (found !== undefined) return found;
    } else if (c === '(') {
      stack.push({ start: i, repeats: false });
      i++;
      if (source[i] === '?') {
        i++;
        if (source[i] === '<' && source[i + 1] !== '=' && source[i + 1] !== '!') {
          while (i < source.length && source[i] !== '>') i++;
        } else if (source[i] === '<') {
          i++;
        }
        i++;
      }
    } else if (c === ')') {
      const frame = stack.length > 1 ? (stack.pop() as Frame) : { start: i, repeats: false };
      const found = afterAtom(frame.start, frame.repeats, i + 1);
      if (found !== undefined) return found;
    } else if (c === '|' || c === '^' || c === '$') {
      i++;
    } else {
      const found = afterAtom(i, false, i + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

const MAX_COMPILED = 2048;
const compiledRegexes = new Map<string, RegExp>();

/**
 * The compiled form of a carried pattern, one shared copy per pattern and
 * flags (never `g` or `y`, so `test()` keeps no state between requests).
 *
 * @throws SyntaxError when the pattern does not compile (a validated manifest never has one).
 */
export function compileRegex(spec: RegexSpec): RegExp {
  const flags = spec.flags ?? '';
  const id = `${flags}/${spec.regex}`;
  let re = compiledRegexes.get(id);
  if (!re) {
    re = new RegExp(spec.regex, flags);
    if (compiledRegexes.size >= MAX_COMPILED) compiledRegexes.clear();
    compiledRegexes.set(id, re);
  }
  return re;
}

/** The manifest's form of a `RegExp` (flags dropped when none). */
export function regexSpecOf(re: RegExp): RegexSpec {
  return re.flags === '' ? { regex: re.source } : { regex: re.source, flags: re.flags };
}

/** Whether `value` is a {@link RegexSpec} (an object with a string `regex`). */
export function isRegexSpec(value: unknown): value is RegexSpec {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { regex?: unknown }).regex === 'string'
  );
}

/** `value` as a pattern matching exactly it (special characters escaped). */
export function exactRegex(value: string): string {
  return `^${value.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')}$`;
}
