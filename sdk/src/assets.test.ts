import { afterEach, describe, expect, it, vi } from 'vitest';
import { assetUrl } from './assets.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('assetUrl', () => {
  it('returns the path unchanged outside a build', () => {
    expect(assetUrl('/assets/app.css')).toBe('/assets/app.css');
  });

  it('returns the hashed path the build injected, with or without a leading slash', () => {
    vi.stubGlobal('__FLOTILLA_ASSETS__', { '/assets/app.css': '/assets/app.3f2a1b9c.css' });
    expect(assetUrl('/assets/app.css')).toBe('/assets/app.3f2a1b9c.css');
    expect(assetUrl('assets/app.css')).toBe('/assets/app.3f2a1b9c.css');
    expect(assetUrl('/assets/unknown.js')).toBe('/assets/unknown.js');
    expect(assetUrl('/toString')).toBe('/toString');
  });
});
