import { describe, expect, it } from 'vitest';
import { isSafeAssetPath } from './manifest-check.ts';

describe('isSafeAssetPath', () => {
  it('accepts absolute paths and the root page', () => {
    expect(isSafeAssetPath('/styles.css')).toBe(true);
    expect(isSafeAssetPath('/assets/app-1a2b3c4d.js')).toBe(true);
    expect(isSafeAssetPath('/about')).toBe(true);
    expect(isSafeAssetPath('/')).toBe(true);
  });

  it('refuses paths that would leave or blur the build directory', () => {
    for (const path of [
      '',
      'a.css',
      '//a',
      '/a/',
      '/a/../b',
      '/./a',
      '/a\\b',
      '/a?b',
      '/#',
      '/a\nb',
    ]) {
      expect(isSafeAssetPath(path), JSON.stringify(path)).toBe(false);
    }
  });
});
