import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManifestError } from './errors.ts';
import { compilePattern, interpolatePath, type ParamModifier } from './pattern.ts';

describe('compilePattern: matching', () => {
  it('matches literal segments and :name parameters, decoding the values', () => {
    const p = compilePattern('/p/:productId');
    expect(p.match('/p/42')).toEqual({ productId: '42' });
    expect(p.match('/p/caf%C3%A9%20au%20lait')).toEqual({ productId: 'café au lait' });
    expect(p.match('/p/a%2Fb')).toEqual({ productId: 'a/b' });
    expect(p.match('/p')).toBeUndefined();
    expect(p.match('/p/42/reviews')).toBeUndefined();
    expect(p.match('/q/42')).toBeUndefined();
    expect(p.match('/P/42')).toBeUndefined();
  });

  it('ignores one trailing slash on the path and on the pattern', () => {
    expect(compilePattern('/p/:id').match('/p/7/')).toEqual({ id: '7' });
    expect(compilePattern('/about/').match('/about')).toEqual({});
    expect(compilePattern('/').match('/')).toEqual({});
    expect(compilePattern('/').match('/x')).toBeUndefined();
  });

  it('compares literal segments decoded, so either spelling of a character matches', () => {
    const p = compilePattern('/café/menu');
    expect(p.match('/caf%C3%A9/menu')).toEqual({});
    expect(p.match('/café/menu')).toEqual({});
    expect(compilePattern('/a%20b').match('/a b')).toEqual({});
  });

  it('supports optional, zero-or-more and one-or-more parameters', () => {
    const docs = compilePattern('/docs/:page?');
    expect(docs.match('/docs')).toEqual({});
    expect(docs.match('/docs/intro')).toEqual({ page: 'intro' });
    expect(docs.match('/docs/a/b')).toBeUndefined();

    const splat = compilePattern('/assets/:file*');
    expect(splat.match('/assets')).toEqual({});
    expect(splat.match('/assets/css/app.css')).toEqual({ file: 'css/app.css' });

    const plus = compilePattern('/api/:path+');
    expect(plus.match('/api')).toBeUndefined();
    expect(plus.match('/api/v1/items')).toEqual({ path: 'v1/items' });

    const mid = compilePattern('/:lang?/shop/:rest*');
    expect(mid.match('/shop')).toEqual({});
    expect(mid.match('/fr/shop/a/b')).toEqual({ lang: 'fr', rest: 'a/b' });
  });

  it('never lets a parameter take an empty segment', () => {
    expect(compilePattern('/p/:id').match('/p//')).toBeUndefined();
    expect(compilePattern('/a/:rest*').match('/a//b')).toBeUndefined();
  });

  it('stays fast on patterns with many wildcards and long paths', () => {
    const p = compilePattern('/:a*/:b*/:c*/:d*/never');
    const path = `/${Array.from({ length: 400 }, (_, i) => `s${i}`).join('/')}`;
    const started = performance.now();
    expect(p.match(path)).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(500);
  });
});

describe('compilePattern: malformed patterns', () => {
  it.each([
    ['p/:id', 'must start with "/"'],
    ['/a//b', 'has an empty segment'],
    ['/p/:', 'has a parameter without a name'],
    ['/p/:*', 'has a parameter without a name'],
    ['/p/:1id', 'bad parameter name'],
    ['/p/:id.json', 'a parameter is a whole segment'],
    ['/p/:id/:id', 'repeats the parameter ":id"'],
    ['/p/a:b', 'a parameter starts its segment'],
    ['/assets/*', 'a wildcard is a named parameter'],
    ['/p/(x)', 'has "(" in the literal segment'],
    ['/p/a b', 'has " " in the literal segment'],
    ['/p/:__proto__', 'reserved'],
  ])('refuses %j (%s)', (pattern, problem) => {
    const err = (() => {
      try {
        compilePattern(pattern, 'routes[3].criteria.path');
      } catch (e) {
        return e as ManifestError;
      }
      throw new Error('expected an error');
    })();
    expect(err).toBeInstanceOf(ManifestError);
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain('routes[3].criteria.path');
    expect(err.message).toContain(JSON.stringify(pattern));
    expect(err.message).toContain(problem);
  });

  it('refuses a pattern that is not a string', () => {
    expect(() => compilePattern(42 as unknown as string)).toThrow(/must be a string path pattern/);
  });
});

describe('toPath and interpolatePath', () => {
  it('builds paths, encoding each segment', () => {
    expect(compilePattern('/p/:id').toPath({ id: 'a b/c' })).toBe('/p/a%20b%2Fc');
    expect(compilePattern('/assets/:file*').toPath({ file: 'css/app v2.css' })).toBe(
      '/assets/css/app%20v2.css',
    );
    expect(compilePattern('/docs/:page?').toPath({})).toBe('/docs');
    expect(compilePattern('/:rest*').toPath({})).toBe('/');
    expect(() => compilePattern('/p/:id').toPath({})).toThrow(/params.id is required/);
  });

  it('substitutes parameters in proxy paths and redirect targets', () => {
    expect(interpolatePath('/:path*', { path: 'v1/items' })).toBe('/v1/items');
    expect(interpolatePath('/:path*', {})).toBe('/');
    expect(interpolatePath('/products/:id', { id: 'a b' })).toBe('/products/a%20b');
    expect(interpolatePath('https://new.example/p/:id?ref=old', { id: '7' })).toBe(
      'https://new.example/p/7?ref=old',
    );
    expect(interpolatePath('/docs/:page?', {})).toBe('/docs');
    expect(interpolatePath('/docs/:page?', { page: 'x' })).toBe('/docs/x');
    expect(interpolatePath('/fixed/path?q=:notaparam', { notaparam: 'x' })).toBe(
      '/fixed/path?q=:notaparam',
    );
  });
});

// ---------------------------------------------------------------------------
// Properties

type Tok = { kind: 'lit'; value: string } | { kind: 'param'; modifier: ParamModifier };

const literal = fc.stringMatching(/^[a-z0-9._~-]{1,6}$/);
/** Any non-empty text without `/` (graphemes: well-formed Unicode). */
const segmentText = fc
  .string({ unit: 'grapheme', minLength: 1, maxLength: 6 })
  .filter((s) => !s.includes('/'));
/** Any non-empty text, `/` included (a single-segment value keeps it as %2F). */
const anyText = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 });

const token: fc.Arbitrary<Tok> = fc.oneof(
  literal.map((value) => ({ kind: 'lit' as const, value })),
  fc.constantFrom<ParamModifier>('', '?', '*', '+').map((modifier) => ({
    kind: 'param' as const,
    modifier,
  })),
);

function patternOf(tokens: Tok[]): string {
  if (tokens.length === 0) return '/';
  return tokens.map((t, i) => (t.kind === 'lit' ? `/${t.value}` : `/:p${i}${t.modifier}`)).join('');
}

/** Values for each parameter of `tokens`, as the pattern allows. */
function valuesFor(
  tokens: Tok[],
  single: fc.Arbitrary<string>,
): fc.Arbitrary<Record<string, string>> {
  const entries = tokens.flatMap((t, i): Array<fc.Arbitrary<[string, string | undefined]>> => {
    if (t.kind === 'lit') return [];
    const name = `p${i}`;
    switch (t.modifier) {
      case '':
        return [single.map((v) => [name, v])];
      case '?':
        return [fc.option(single, { nil: undefined }).map((v) => [name, v])];
      case '*':
        return [
          fc
            .array(segmentText, { maxLength: 3 })
            .map((v) => [name, v.length ? v.join('/') : undefined]),
        ];
      default:
        return [
          fc.array(segmentText, { minLength: 1, maxLength: 3 }).map((v) => [name, v.join('/')]),
        ];
    }
  });
  return fc.tuple(...entries).map((pairs) => {
    const out: Record<string, string> = {};
    for (const [k, v] of pairs) if (v !== undefined) out[k] = v;
    return out;
  });
}

describe('compilePattern: properties', () => {
  it('a pattern matches every path built from it, and building from the match gives the path back', () => {
    fc.assert(
      fc.property(
        fc
          .array(token, { maxLength: 6 })
          .chain((tokens) => fc.tuple(fc.constant(tokens), valuesFor(tokens, segmentText))),
        ([tokens, values]) => {
          const p = compilePattern(patternOf(tokens));
          const path = p.toPath(values);
          const matched = p.match(path);
          expect(matched).toBeDefined();
          expect(p.toPath(matched ?? {})).toBe(path);
          expect(p.match(`${path}/`.replace(/\/\/$/, '/'))).toBeDefined();
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an unambiguous pattern gives back exactly the parameters its path was built from', () => {
    const unambiguous = fc
      .array(token, { maxLength: 6 })
      .filter(
        (tokens) =>
          tokens.every((t) => t.kind === 'lit' || t.modifier !== '?') &&
          tokens.filter((t) => t.kind === 'param' && (t.modifier === '*' || t.modifier === '+'))
            .length <= 1,
      );
    fc.assert(
      fc.property(
        unambiguous.chain((tokens) => fc.tuple(fc.constant(tokens), valuesFor(tokens, anyText))),
        ([tokens, values]) => {
          const p = compilePattern(patternOf(tokens));
          expect(p.match(p.toPath(values))).toEqual(values);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a literal pattern never matches another literal path', () => {
    fc.assert(
      fc.property(
        fc.array(literal, { maxLength: 4 }),
        fc.array(literal, { maxLength: 4 }),
        (a, b) => {
          fc.pre(a.join('/') !== b.join('/'));
          const pa = compilePattern(`/${a.join('/')}`);
          expect(pa.match(`/${a.join('/')}`)).toEqual({});
          expect(pa.match(`/${b.join('/')}`)).toBeUndefined();
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('compilePattern: constrained parameters', () => {
  it('matches a parameter only when its constraint matches the whole (decoded) segment', () => {
    const p = compilePattern('/p/:id(\\d+)');
    expect(p.params).toEqual([{ name: 'id', modifier: '', constraint: '\\d+' }]);
    expect(p.match('/p/42')).toEqual({ id: '42' });
    expect(p.match('/p/42a')).toBeUndefined();
    expect(p.match('/p/a42')).toBeUndefined();
    expect(p.match('/p/%34%32')).toEqual({ id: '42' });
    expect(p.match('/p/')).toBeUndefined();
  });

  it('takes alternations, nested groups, classes with "/" and modifiers', () => {
    const docs = compilePattern('/docs/:lang(en|fr)?/:page');
    expect(docs.match('/docs/fr/intro')).toEqual({ lang: 'fr', page: 'intro' });
    expect(docs.match('/docs/intro')).toEqual({ page: 'intro' });
    expect(docs.match('/docs/de/intro')).toBeUndefined();
    const nested = compilePattern('/v/:v((?:v|ver)\\d+)/:rest*');
    expect(nested.match('/v/ver2/a/b')).toEqual({ v: 'ver2', rest: 'a/b' });
    expect(nested.match('/v/x2/a')).toBeUndefined();
    const ids = compilePattern('/ids/:ids(\\d+)+');
    expect(ids.match('/ids/1/22/333')).toEqual({ ids: '1/22/333' });
    expect(ids.match('/ids/1/x/3')).toBeUndefined();
    const notSlash = compilePattern('/f/:file([^/]+\\.css)');
    expect(notSlash.match('/f/site.css')).toEqual({ file: 'site.css' });
    expect(notSlash.match('/f/site.js')).toBeUndefined();
  });

  it('builds paths for constrained patterns as for plain ones', () => {
    expect(compilePattern('/p/:id(\\d+)').toPath({ id: '7' })).toBe('/p/7');
  });

  it('refuses constraints it cannot carry, naming the parameter', () => {
    const problem = (path: string): string => {
      try {
        compilePattern(path);
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(problem('/p/:id(.*)')).toMatch(/constraint on ":id" that can match "\/".*use ":id\*"/);
    expect(problem('/p/:id(\\d+')).toMatch(/unclosed constraint/);
    expect(problem('/p/:id()')).toMatch(/empty constraint/);
    expect(problem('/p/:id(\\d+)x')).toMatch(/a constrained parameter is ":name\(constraint\)"/);
    expect(problem('/p/:id((a+)+)')).toMatch(/constraint on ":id" that nests a repetition/);
    expect(problem('/p/:id([)')).toMatch(
      /constraint on ":id" that is not a valid regular expression/,
    );
    expect(problem('/p/:id(\\d+)/:id')).toMatch(/repeats the parameter ":id"/);
  });
});
