/**
 * Route path patterns: literal segments, `:name`, `:name?`, `:name*`,
 * `:name+`, each parameter optionally constrained (`:id(\\d+)`).
 *
 * @module
 */

import { describeValue } from '@flotilla/protocol/patterns';
import { decodePathComponent, encodePathSegment } from './encoding.ts';
import { ManifestError } from './errors.ts';
import { regexProblem } from './regex.ts';

/** How many segments a parameter takes: one (`''`), zero or one (`?`), zero or more (`*`), one or more (`+`). */
export type ParamModifier = '' | '?' | '*' | '+';

/** One parameter of a pattern. */
export interface PatternParam {
  name: string;
  modifier: ParamModifier;
  /** The constraint each of its segments must match whole (`\\d+` of `:id(\\d+)`), if any. */
  constraint?: string;
}

/** A compiled route pattern. */
export interface CompiledPattern {
  /** The pattern as written. */
  readonly pattern: string;
  /** Its parameters, in order. */
  readonly params: readonly PatternParam[];
  /**
   * Matches a percent-encoded path (no query). Segments are split on `/`
   * before decoding, so `%2F` stays inside one segment. A trailing `/` on
   * the path is ignored (`/p/1/` matches `/p/:id`). Literal segments compare
   * decoded and case-sensitively.
   *
   * @returns The parameters, percent-decoded (`*`/`+` segments joined by
   * `/`; a `?` or `*` parameter that matched nothing is absent), or
   * undefined when the path does not match.
   */
  match(path: string): Record<string, string> | undefined;
  /**
   * Builds the path for `params` (each segment percent-encoded). The
   * inverse of {@link CompiledPattern.match}.
   *
   * @throws ManifestError when a required parameter (`:name`, `:name+`) is missing or empty.
   */
  toPath(params: Readonly<Record<string, string | undefined>>): string;
}

type Token =
  | { kind: 'literal'; value: string }
  | { kind: 'param'; name: string; modifier: ParamModifier; constraint?: RegExp };

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)([?*+]?)$/;
const CONSTRAINED_PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)\(/;
const NAME_START = /^:([A-Za-z_][A-Za-z0-9_]*)/;
const LITERAL_FORBIDDEN = /[:*?+()[\]{}#\\\s]/;

/**
 * Compiles a route path pattern.
 *
 * Rules: the pattern starts with `/`; segments are separated by `/` and are
 * never empty (a single trailing `/` is ignored); a parameter is a whole
 * segment, `:` plus a name of letters, digits and `_` (not starting with a
 * digit), optionally followed by a constraint in parentheses (a regular
 * expression each segment of the parameter must match whole, tested on the
 * decoded segment: `:id(\\d+)`, `:lang(en|fr)?`), then optionally by `?`,
 * `*` or `+`; names are unique; a literal
 * segment may not hold `: * ? + ( ) [ ] { } #`, `\` or whitespace (write it
 * percent-encoded).
 *
 * @param path - The pattern, e.g. `/p/:productId` or `/assets/:file*`.
 * @param field - Names the pattern in error messages. @default 'path'
 * @throws ManifestError naming the pattern and what is wrong with it.
 * @example
 * const p = compilePattern('/p/:id');
 * p.match('/p/42');           // { id: '42' }
 * p.match('/p/42/reviews');   // undefined
 * p.toPath({ id: 'a b' });    // '/p/a%20b'
 * compilePattern('/p/:id(\\d+)').match('/p/abc'); // undefined
 */
export function compilePattern(path: string, field = 'path'): CompiledPattern {
  if (typeof path !== 'string') {
    throw new ManifestError(field, `must be a string path pattern (got ${describeValue(path)})`);
  }
  const fail = (problem: string): never => {
    throw new ManifestError(field, `${JSON.stringify(path)} ${problem}`);
  };
  if (!path.startsWith('/')) fail('must start with "/"');
  const body = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const tokens: Token[] = [];
  const params: PatternParam[] = [];
  if (body !== '/') {
    for (const segment of splitPatternSegments(body.slice(1))) {
      if (segment === '') fail('has an empty segment ("//")');
      if (CONSTRAINED_PARAM.test(segment)) {
        const param = constrainedParam(segment, fail);
        if (param.name === '__proto__')
          fail('uses the parameter name "__proto__", which is reserved');
        if (params.some((p) => p.name === param.name))
          fail(`repeats the parameter ":${param.name}"`);
        params.push({ name: param.name, modifier: param.modifier, constraint: param.source });
        tokens.push({
          kind: 'param',
          name: param.name,
          modifier: param.modifier,
          constraint: param.regex,
        });
      } else if (segment.startsWith(':')) {
        const m = PARAM.exec(segment);
        if (!m) {
          const named = NAME_START.exec(segment);
          if (segment === ':' || /^:[?*+]?$/.test(segment)) fail('has a parameter without a name');
          if (!named) {
            fail(
              `has a bad parameter name in "${segment}": names are letters, digits and "_", not starting with a digit`,
            );
          }
          fail(
            `has "${segment}": a parameter is a whole segment, ":name" optionally followed by "?", "*" or "+"`,
          );
        }
        const name = m?.[1] as string;
        const modifier = (m?.[2] ?? '') as ParamModifier;
        if (name === '__proto__') fail('uses the parameter name "__proto__", which is reserved');
        if (params.some((p) => p.name === name)) fail(`repeats the parameter ":${name}"`);
        params.push({ name, modifier });
        tokens.push({ kind: 'param', name, modifier });
      } else {
        const bad = LITERAL_FORBIDDEN.exec(segment);
        if (bad) {
          const what = segment.includes(':')
            ? '; a parameter starts its segment (":name")'
            : bad[0] === '*'
              ? '; a wildcard is a named parameter (":name*")'
              : '';
          fail(`has ${JSON.stringify(bad[0])} in the literal segment "${segment}"${what}`);
        }
        tokens.push({ kind: 'literal', value: decodePathComponent(segment) });
      }
    }
  }
  return {
    pattern: path,
    params,
    match: (requestPath) => matchTokens(tokens, requestPath),
    toPath: (values) => buildPath(path, tokens, values),
  };
}

/** Splits a pattern's body on `/`, except inside a constraint's parentheses. */
function splitPatternSegments(body: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === '\\' && depth > 0) i++;
    else if (c === '(') depth++;
    else if (c === ')' && depth > 0) depth--;
    else if (c === '/' && depth === 0) {
      out.push(body.slice(start, i));
      start = i + 1;
    }
  }
  out.push(body.slice(start));
  return out;
}

/** `:name(constraint)` plus an optional modifier, checked and compiled. */
function constrainedParam(
  segment: string,
  fail: (problem: string) => never,
): { name: string; modifier: ParamModifier; source: string; regex: RegExp } {
  const name = (CONSTRAINED_PARAM.exec(segment) as RegExpExecArray)[1] as string;
  const open = name.length + 1;
  let depth = 0;
  let close = -1;
  for (let i = open; i < segment.length; i++) {
    const c = segment[i];
    if (c === '\\') i++;
    else if (c === '(') depth++;
    else if (c === ')' && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close === -1) fail(`has an unclosed constraint in "${segment}"`);
  const source = segment.slice(open + 1, close);
  const rest = segment.slice(close + 1);
  if (!/^[?*+]?$/.test(rest)) {
    fail(
      `has "${segment}": a constrained parameter is ":name(constraint)" optionally followed by "?", "*" or "+"`,
    );
  }
  if (source === '') fail(`has an empty constraint in "${segment}"`);
  const problem = regexProblem(source);
  if (problem !== undefined) fail(`has a constraint on ":${name}" that ${problem}`);
  const regex = new RegExp(`^(?:${source})$`);
  if (['a/b', '1/2', '/'].some((sample) => regex.test(sample))) {
    fail(
      `has a constraint on ":${name}" that can match "/" (${JSON.stringify(source)}): it is tested on one path segment, so it would not span segments as it does in EdgeJS; use ":${name}*" or ":${name}+" for several segments`,
    );
  }
  return { name, modifier: rest as ParamModifier, source, regex };
}

function matchTokens(tokens: readonly Token[], path: string): Record<string, string> | undefined {
  if (typeof path !== 'string' || !path.startsWith('/')) return undefined;
  const body = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  const segments = body === '/' ? [] : body.slice(1).split('/').map(decodePathComponent);
  const raw = body === '/' ? [] : body.slice(1).split('/');
  const n = segments.length;
  const failed = new Set<number>();
  const captures: Array<[string, number, number] | undefined> = new Array(tokens.length);

  // Depth-first with a memo of (token, segment) states known to fail: at most
  // tokens × segments states, so no pattern is exponential on any path.
  const solve = (ti: number, si: number): boolean => {
    if (ti === tokens.length) return si === n;
    const state = ti * (n + 1) + si;
    if (failed.has(state)) return false;
    const token = tokens[ti] as Token;
    if (token.kind === 'literal') {
      if (si < n && segments[si] === token.value && solve(ti + 1, si + 1)) return true;
    } else {
      const min = token.modifier === '' || token.modifier === '+' ? 1 : 0;
      const max = token.modifier === '' || token.modifier === '?' ? 1 : n - si;
      // Greedy: the longest run first, as a regular expression would.
      for (let take = Math.min(max, n - si); take >= min; take--) {
        let ok = true;
        for (let k = si; k < si + take; k++) {
          if (raw[k] === '') {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
        if (token.constraint) {
          const re = token.constraint;
          for (let k = si; k < si + take; k++) {
            if (!re.test(segments[k] as string)) {
              ok = false;
              break;
            }
          }
          if (!ok) continue;
        }
        captures[ti] = [token.name, si, si + take];
        if (solve(ti + 1, si + take)) return true;
      }
      captures[ti] = undefined;
    }
    failed.add(state);
    return false;
  };

  if (!solve(0, 0)) return undefined;
  const params: Record<string, string> = {};
  for (const capture of captures) {
    if (!capture) continue;
    const [name, from, to] = capture;
    if (to > from) params[name] = segments.slice(from, to).join('/');
  }
  return params;
}

function buildPath(
  pattern: string,
  tokens: readonly Token[],
  values: Readonly<Record<string, string | undefined>>,
): string {
  let out = '';
  for (const token of tokens) {
    if (token.kind === 'literal') {
      out += `/${encodePathSegment(token.value)}`;
      continue;
    }
    const value = Object.hasOwn(values, token.name) ? values[token.name] : undefined;
    if (value === undefined || value === '') {
      if (token.modifier === '' || token.modifier === '+') {
        throw new ManifestError(
          `params.${token.name}`,
          `is required by the pattern ${JSON.stringify(pattern)} (got ${describeValue(value)})`,
        );
      }
      continue;
    }
    if (token.modifier === '*' || token.modifier === '+') {
      out += `/${value.split('/').map(encodePathSegment).join('/')}`;
    } else {
      out += `/${encodePathSegment(value)}`;
    }
  }
  return out === '' ? '/' : out;
}

/**
 * Replaces `:name`, `:name?`, `:name*` and `:name+` in a path template (a
 * proxy `path` or a redirect target, which may be an absolute URL and may
 * carry a query) with the percent-encoded values of `params`. A parameter
 * with no value drops its segment together with the `/` before it. Only
 * parameters that start a path segment (after `/`) are replaced.
 *
 * @example
 * interpolatePath('/api/:path*', { path: 'a/b c' });   // '/api/a/b%20c'
 * interpolatePath('https://new.example/p/:id?ref=old', { id: '7' });
 * // 'https://new.example/p/7?ref=old'
 */
export function interpolatePath(
  template: string,
  params: Readonly<Record<string, string | undefined>>,
): string {
  // The query (or fragment) starts at the first `?` or `#`, except that a
  // `?` right after a parameter name and before `/`, `?`, `#` or the end is
  // that parameter's modifier.
  let split = -1;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (c === '#') {
      split = i;
      break;
    }
    if (c !== '?') continue;
    const modifier =
      /:[A-Za-z_][A-Za-z0-9_]*$/.test(template.slice(0, i)) &&
      /^(?:[/?#]|$)/.test(template.slice(i + 1));
    if (!modifier) {
      split = i;
      break;
    }
  }
  const pathPart = split === -1 ? template : template.slice(0, split);
  const rest = split === -1 ? '' : template.slice(split);
  const replaced = pathPart.replace(
    /\/:([A-Za-z_][A-Za-z0-9_]*)([?*+]?)(?=\/|$)/g,
    (_all, name: string, modifier: string) => {
      const value = Object.hasOwn(params, name) ? params[name] : undefined;
      if (value === undefined || value === '')
        return modifier === '' || modifier === '+' ? '/' : '';
      if (modifier === '*' || modifier === '+') {
        return `/${value.split('/').map(encodePathSegment).join('/')}`;
      }
      return `/${encodePathSegment(value)}`;
    },
  );
  const normalised =
    replaced === '' || /^[a-z][a-z0-9+.-]*:\/\/[^/]*$/i.test(replaced) ? `${replaced}/` : replaced;
  return normalised + rest;
}
