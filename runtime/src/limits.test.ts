import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, resolveLimits } from './limits.ts';
import { disposeLoaded, HELLO, loadBundle, rejection } from './test-helpers.ts';

afterEach(() => disposeLoaded());

describe('resolveLimits', () => {
  it('uses the defaults, lets a deployment ask for less and clamps more to the ceiling', () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS);
    expect(resolveLimits({ cpuMs: 200, heapMb: 64 })).toEqual({
      ...DEFAULT_LIMITS,
      cpuMs: 200,
      heapMb: 64,
    });
    const ceiling = {
      cpuMs: 500,
      wallMs: 5000,
      heapMb: 64,
      outputBytes: 1024,
      bundleBytes: 2048,
      backendResponseBytes: 4096,
    };
    expect(
      resolveLimits(
        {
          cpuMs: 10_000,
          wallMs: 60_000,
          heapMb: 512,
          outputBytes: 1e9,
          bundleBytes: 1e9,
          backendResponseBytes: 1e9,
        },
        ceiling,
      ),
    ).toEqual(ceiling);
  });

  it.each([
    [{ cpuMs: 0 }, 'limits.cpuMs'],
    [{ wallMs: -5 }, 'limits.wallMs'],
    [{ heapMb: 1.5 }, 'limits.heapMb'],
    [{ outputBytes: '1000' }, 'limits.outputBytes'],
    [{ bundleBytes: Number.NaN }, 'limits.bundleBytes'],
    [{ heapMb: 4 }, 'limits.heapMb'],
  ])('rejects %j naming %s', (bad, name) => {
    expect(() => resolveLimits(bad as never)).toThrow(
      expect.objectContaining({
        code: 'FLOTILLA_ERR_INVALID_OPTION',
        message: expect.stringContaining(name),
      }),
    );
  });

  it('rejects timer limits Node cannot honour and a non-object', () => {
    const huge = { ...DEFAULT_LIMITS, wallMs: 2 ** 32 };
    expect(() => resolveLimits({}, huge)).toThrow(/limits\.wallMs/);
    expect(() => resolveLimits(null as never)).toThrow(/"limits"/);
  });

  it('refuses bad limits at load with FLOTILLA_ERR_INVALID_OPTION before creating an isolate', async () => {
    const err = await rejection(loadBundle(HELLO, { limits: { cpuMs: -1 } }));
    expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect(err.message).toContain('limits.cpuMs');
  });
});
