import { describe, expect, it } from 'vitest';
import { normalizePrefix, requestPrefix } from './path-prefix.ts';

describe('normalizePrefix', () => {
  it('keeps a plain absolute path, without its trailing slash', () => {
    expect(normalizePrefix('/react-shop')).toBe('/react-shop');
    expect(normalizePrefix('/react-shop/')).toBe('/react-shop');
    expect(normalizePrefix('/a/b.c~d')).toBe('/a/b.c~d');
  });

  it('gives "" for anything a link must not start with', () => {
    for (const bad of [
      null,
      undefined,
      '',
      '/',
      '//evil.example',
      'https://evil.example',
      'javascript:alert(1)',
      '/a b',
      '/a"b',
      '/a\nb',
      'shop',
    ]) {
      expect(normalizePrefix(bad), String(bad)).toBe('');
    }
  });
});

describe('requestPrefix', () => {
  it('reads x-forwarded-prefix', () => {
    const headers = { 'x-forwarded-prefix': '/vue-shop' };
    expect(requestPrefix(new Request('http://x/', { headers }))).toBe('/vue-shop');
    expect(requestPrefix(new Request('http://x/'))).toBe('');
  });
});
