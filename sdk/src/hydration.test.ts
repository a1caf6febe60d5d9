import { describe, expect, it } from 'vitest';
import { jsonProblem, parseHydrationPayload, scriptJson } from './hydration.ts';

describe('scriptJson', () => {
  it('escapes what could end the script element or a line, and parses back to the value', () => {
    const value = {
      name: '</script><script>alert(1)</script>',
      comment: '<!-- --> & more',
      lines: 'a\u2028b\u2029c',
      nested: [{ quote: '"\'`', slash: '\\/' }],
    };
    const json = scriptJson(value);
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    expect(json).toContain('\\u003c/script\\u003e');
    expect(json).toContain('\\u0026');
    expect(json).toContain('a\\u2028b\\u2029c');
    expect(JSON.parse(json)).toEqual(value);
  });
});

describe('jsonProblem', () => {
  it('accepts plain JSON data (undefined fields are as good as absent)', () => {
    const ok = { a: [1, 'x', null, true, { b: undefined }], c: Object.create(null) };
    expect(jsonProblem(ok)).toBeUndefined();
    expect(jsonProblem(undefined)).toBeUndefined();
  });

  it('names the first part JSON would change, with its path', () => {
    const cases: Array<[unknown, string]> = [
      [
        { products: [{ added: new Date(0) }] },
        'data.products[0].added is a Date, not a plain object',
      ],
      [{ tags: new Set(['a']) }, 'data.tags is a Set, not a plain object'],
      [{ price: Number.NaN }, 'data.price is NaN (JSON turns it into null)'],
      [{ list: [1, undefined] }, 'data.list[1] is undefined (JSON turns it into null)'],
      [{ 'a-b': 10n }, 'data["a-b"] is a bigint'],
      [{ onClick: () => {} }, 'data.onClick is a function'],
    ];
    for (const [value, problem] of cases) expect(jsonProblem(value, 'data')).toBe(problem);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(jsonProblem(loop, 'data')).toBe('data.self is circular');
    // The same object twice is not a cycle.
    const shared = { x: 1 };
    expect(jsonProblem({ a: shared, b: shared })).toBeUndefined();
  });
});

describe('parseHydrationPayload', () => {
  const payload = {
    v: 1,
    route: 2,
    page: 'page',
    root: 'document',
    url: 'http://x/p/1',
    params: { id: '1' },
  };

  it('reads a payload, with or without data', () => {
    expect(parseHydrationPayload(JSON.stringify(payload))).toEqual(payload);
    expect(parseHydrationPayload(JSON.stringify({ ...payload, data: [1] })).data).toEqual([1]);
  });

  it('says what is wrong with a malformed one', () => {
    expect(() => parseHydrationPayload('{')).toThrow(/^the hydration data is not JSON: /);
    expect(() => parseHydrationPayload(JSON.stringify({ ...payload, route: -1 }))).toThrow(
      'the hydration data is malformed: route must be a route id (got -1)',
    );
    expect(() => parseHydrationPayload(JSON.stringify({ ...payload, page: 'x' }))).toThrow(
      'the hydration data is malformed: page must be "page" or "notFound" (got "x")',
    );
  });
});
