import { describe, expect, it } from 'vitest';
import { parseRedirectRow, redirectLocation, redirectRowProblem } from './redirects.ts';

describe('redirect rows', () => {
  it('fills in status 301 and no query forwarding', () => {
    expect(parseRedirectRow({ from: '/old', to: '/new' })).toEqual({
      from: '/old',
      to: '/new',
      status: 301,
      forwardQueryString: false,
    });
  });

  it('names the field and the problem of a bad row', () => {
    expect(redirectRowProblem({ from: 'old', to: '/new' })).toBe(
      'from must be a path starting with "/" (got "old")',
    );
    expect(redirectRowProblem({ from: '/a?x=1', to: '/b' })).toMatch(
      /^from must be a path without/,
    );
    expect(redirectRowProblem({ from: '/a', to: 'ftp://x' })).toMatch(/^to must be a path/);
    expect(redirectRowProblem({ from: '/a', to: '/b\r\nset-cookie: x' })).toMatch(/^to must not/);
    expect(redirectRowProblem({ from: '/a', to: '/b', status: 200 })).toMatch(
      /^status must be one of 301, 302, 303, 307, 308/,
    );
    expect(redirectRowProblem({ from: '/a' })).toBe('to is required');
    expect(redirectRowProblem({ from: '/a', to: '/b', code: 301 })).toMatch(
      /^code is not a known field/,
    );
    expect(
      redirectRowProblem({ from: '/a', to: 'https://example.com/b', status: 308 }),
    ).toBeUndefined();
  });
});

describe('redirectLocation', () => {
  const row = (to: string, forwardQueryString: boolean) =>
    parseRedirectRow({ from: '/a', to, forwardQueryString });

  it('appends the query only when the row forwards it', () => {
    expect(redirectLocation(row('/b', true), 'x=1')).toBe('/b?x=1');
    expect(redirectLocation(row('/b?y=2', true), 'x=1')).toBe('/b?y=2&x=1');
    expect(redirectLocation(row('/b#top', true), 'x=1')).toBe('/b?x=1#top');
    expect(redirectLocation(row('/b', false), 'x=1')).toBe('/b');
    expect(redirectLocation(row('/b', true), '')).toBe('/b');
  });

  it('keeps a path target under the path prefix, an absolute URL as it is', () => {
    expect(redirectLocation(row('/b', false), '', '/shop')).toBe('/shop/b');
    expect(redirectLocation(row('https://example.com/b', false), '', '/shop')).toBe(
      'https://example.com/b',
    );
  });
});
