import { describe, expect, it } from 'vitest';
import {
  checkHeaderNames,
  edgioGeoName,
  edgioTiming,
  withEdgioRequestHeaders,
} from './edgio-headers.ts';

describe('Edgio header names', () => {
  it('twins the shield’s own request headers, and the trusted geo headers, in place', () => {
    expect(
      withEdgioRequestHeaders(
        [
          ['accept-encoding', 'br'],
          ['x-flotilla-device', 'smartphone'],
          ['x-flotilla-browser', 'safari'],
          ['x-flotilla-client-ip', '203.0.113.7'],
          ['x-flotilla-original-query', 'utm_source=x&a=1'],
          ['cf-ipcountry', 'DE'],
          ['cf-ipcity', 'Berlin'],
          ['x-other', 'y'],
        ],
        ['cf-ipcountry', 'cf-ipcity'],
      ),
    ).toEqual([
      ['accept-encoding', 'br'],
      ['x-flotilla-device', 'smartphone'],
      ['x-0-device', 'smartphone'],
      ['x-flotilla-browser', 'safari'],
      ['x-0-browser', 'safari'],
      ['x-flotilla-client-ip', '203.0.113.7'],
      ['x-0-client-ip', '203.0.113.7'],
      ['x-flotilla-original-query', 'utm_source=x&a=1'],
      ['x-0-original-qs', 'utm_source=x&a=1'],
      ['cf-ipcountry', 'DE'],
      ['x-0-geo-country-code', 'DE'],
      ['cf-ipcity', 'Berlin'],
      ['x-0-geo-city', 'Berlin'],
      ['x-other', 'y'],
    ]);
    // A header that only looks like a geo header is not twinned unless the front door reads it.
    expect(withEdgioRequestHeaders([['cf-ipcountry', 'FR']], [])).toEqual([['cf-ipcountry', 'FR']]);
    expect(edgioGeoName('cloudfront-viewer-country')).toBe('x-0-geo-country-code');
    expect(edgioGeoName('x-unrelated')).toBeUndefined();
  });

  it('writes x-0-t in Edgio’s <id>=<ms> format, outermost first', () => {
    expect(
      edgioTiming(12.6, 'miss', {
        transport: 1.2,
        scheduler: 0.4,
        worker: 9.5,
        queue: 0.2,
        render: 8.7,
      }),
    ).toBe('et=13,ecc=miss,nt=1,st=0,wq=0,wt=10,wr=9');
    expect(edgioTiming(0.3, 'hit', undefined)).toBe('et=0,ecc=hit');
    expect(edgioTiming(4, 'stale', undefined)).toBe('et=4,ecc=hit');
    expect(edgioTiming(4, undefined, { worker: 2 })).toBe('et=4,wt=2');
    // An edge shield whose miss the global tier answered from its cache.
    expect(edgioTiming(3.2, 'miss', { global: 2.1 }, 'hit')).toBe('et=3,ecc=miss,gcc=hit,gt=2');
  });

  it('checks the option', () => {
    expect(checkHeaderNames(undefined)).toBe('flotilla');
    expect(checkHeaderNames('edgio')).toBe('edgio');
    expect(() => checkHeaderNames('layer0')).toThrow(
      /headerNames.*must be flotilla or edgio, got "layer0"/,
    );
  });
});
