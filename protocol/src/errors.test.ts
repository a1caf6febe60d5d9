import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES,
  errorKind,
  errorStatus,
  FlotillaError,
  fromWireError,
  InvalidOptionError,
  isWireError,
  toWireError,
} from './errors.ts';

describe('error catalogue', () => {
  it('maps codes to the status a client sees and whose fault it is', () => {
    expect([errorStatus('FLOTILLA_ERR_RENDER'), errorKind('FLOTILLA_ERR_RENDER')]).toEqual([
      502,
      'user',
    ]);
    expect([errorStatus('FLOTILLA_ERR_CPU_LIMIT'), errorKind('FLOTILLA_ERR_CPU_LIMIT')]).toEqual([
      503,
      'user',
    ]);
    expect([errorStatus('FLOTILLA_ERR_DEADLINE'), errorKind('FLOTILLA_ERR_DEADLINE')]).toEqual([
      504,
      'system',
    ]);
    expect([errorStatus('FLOTILLA_ERR_NOT_FOUND'), errorKind('FLOTILLA_ERR_NOT_FOUND')]).toEqual([
      404,
      'user',
    ]);
    expect([errorStatus('FLOTILLA_ERR_NO_WORKERS'), errorKind('FLOTILLA_ERR_NO_WORKERS')]).toEqual([
      503,
      'system',
    ]);
  });

  it('answers a client body that is too large with 413, the client being at fault', () => {
    expect(errorStatus('FLOTILLA_ERR_BODY_TOO_LARGE')).toBe(413);
    expect(errorKind('FLOTILLA_ERR_BODY_TOO_LARGE')).toBe('user');
  });

  it('treats unknown codes as internal system errors (500)', () => {
    expect(errorStatus('FLOTILLA_ERR_SOMETHING_NEW')).toBe(500);
    expect(errorKind('FLOTILLA_ERR_SOMETHING_NEW')).toBe('system');
    expect(errorStatus('toString')).toBe(500);
    expect(errorStatus('__proto__')).toBe(500);
  });

  it('names every code FLOTILLA_ERR_* with a 4xx or 5xx status', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^FLOTILLA_ERR_[A-Z_]+$/);
      expect(info.status).toBeGreaterThanOrEqual(400);
      expect(info.status).toBeLessThan(600);
    }
  });
});

describe('FlotillaError', () => {
  it('exposes code, kind, status and a wire form without the cause', () => {
    const cause = new Error('socket hang up');
    const err = new FlotillaError('FLOTILLA_ERR_OUTPUT_LIMIT', 'body over 5 MB', { cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.cause).toBe(cause);
    expect(err.kind).toBe('user');
    expect(err.status).toBe(502);
    expect(err.toWire()).toEqual({ code: 'FLOTILLA_ERR_OUTPUT_LIMIT', message: 'body over 5 MB' });
  });

  it('InvalidOptionError names the option', () => {
    const err = new InvalidOptionError('threads', 'must be a positive integer');
    expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect(err.message).toBe('option "threads" must be a positive integer');
    expect(err).toBeInstanceOf(FlotillaError);
  });
});

describe('toWireError / fromWireError', () => {
  it('keeps the code of a FlotillaError', () => {
    expect(toWireError(new FlotillaError('FLOTILLA_ERR_DRAINING', 'bye'))).toEqual({
      code: 'FLOTILLA_ERR_DRAINING',
      message: 'bye',
    });
  });

  it('keeps a plain { code, message } that already has a Flotilla code, dropping extra fields', () => {
    const wire = toWireError({ code: 'FLOTILLA_ERR_RENDER', message: 'x', stack: 'secret' });
    expect(wire).toEqual({ code: 'FLOTILLA_ERR_RENDER', message: 'x' });
  });

  it('turns any other Error into FLOTILLA_ERR_INTERNAL with its message', () => {
    expect(toWireError(new TypeError('x is not a function'))).toEqual({
      code: 'FLOTILLA_ERR_INTERNAL',
      message: 'x is not a function',
    });
    const sysErr = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(toWireError(sysErr).code).toBe('FLOTILLA_ERR_INTERNAL');
  });

  it('handles thrown values that are not Errors', () => {
    expect(toWireError('just a string')).toEqual({
      code: 'FLOTILLA_ERR_INTERNAL',
      message: 'just a string',
    });
    expect(toWireError(42)).toEqual({ code: 'FLOTILLA_ERR_INTERNAL', message: '42' });
    expect(toWireError(undefined)).toEqual({ code: 'FLOTILLA_ERR_INTERNAL', message: 'undefined' });
    expect(toWireError(null)).toEqual({ code: 'FLOTILLA_ERR_INTERNAL', message: 'null' });
    expect(toWireError({ code: 42, message: 'x' }).code).toBe('FLOTILLA_ERR_INTERNAL');
  });

  it('rebuilds a FlotillaError from the wire', () => {
    const err = fromWireError({ code: 'FLOTILLA_ERR_CPU_LIMIT', message: 'used 1000 ms' });
    expect(err).toBeInstanceOf(FlotillaError);
    expect(err.code).toBe('FLOTILLA_ERR_CPU_LIMIT');
    expect(err.message).toBe('used 1000 ms');
    expect(err.status).toBe(503);
  });

  it('isWireError accepts only FLOTILLA_ERR_* codes with a string message', () => {
    expect(isWireError({ code: 'FLOTILLA_ERR_X', message: '' })).toBe(true);
    expect(isWireError({ code: 'ENOENT', message: 'x' })).toBe(false);
    expect(isWireError({ code: 'FLOTILLA_ERR_X' })).toBe(false);
    expect(isWireError(null)).toBe(false);
    expect(isWireError('FLOTILLA_ERR_X')).toBe(false);
  });
});
