/**
 * Route path patterns: literal segments, `:name`, `:name?`, `:name*`,
 * `:name+`.
 *
 * @module
 */

import { describeValue } from '@flotilla/protocol/patterns';
import { decodePathComponent, encodePathSegment } from './encoding.ts';
import { ManifestError } from './errors.ts';

/** How many segments a parameter takes: one (`''`), zero or one (`?`), zero or more (`*`), one or more (`+`). */
export type ParamModifier = '' | '?' | '*' | '+';

/** One parameter of a pattern. */
export interface PatternParam {
  name: string;
  modifier: ParamModifier;
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
  | { kind: 'param'; name: string; modifier: ParamModifier };

const PARAM = /^:([A-Za-z_][A-Za-z0-9_]*)([?*+]?)$/;
const NAME_START = /^:([A-Za-z_][A-Za-z0-9_]*)/;
const LITERAL_FORBIDDEN = /[:*?+()[\]{}#\\\s]/;

/**
 * Compiles a route path pattern.
 *
 * Rules: the pattern starts with `/`; segments are separated by `/` and are
 * never empty (a single trailing `/` is ignored); a parameter is a whole
 * segment, `:` plus a name of letters, digits and `_` (not starting with a
 * digit), optionally followed by `?`, `*` or `+`; names are unique; a literal
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
    for (const segment of body.slice(1).split('/')) {
      if (segment === '') fail('has an empty segment ("//")');
      if (segment.startsWith(':')) {
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
