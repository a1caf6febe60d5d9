import { describe, expect, it } from 'vitest';
import type { HeaderOp } from './header-op-schema.ts';
import {
  applyRequestRules,
  applyResponseRules,
  applyUpstreamRules,
  interpolateHeader,
} from './header-rules.ts';

/** The interpolation of request header `name` in a header value. */
const req = (name: string): string => ['$', '{req:', name, '}'].join('');

describe('header rules (the bundle and the shield apply the same)', () => {
  it(`interpolates ${req('name')} from the request, empty when absent`, () => {
    expect(
      interpolateHeader(`ip=${req('X-Client-IP')};${req('none')}`, { 'x-client-ip': '1.2.3.4' }),
    ).toBe('ip=1.2.3.4;');
  });

  it('request rules in call order', () => {
    const headers = new Headers({ 'x-a': 'one', 'x-drop': 'yes' });
    const ops: HeaderOp[] = [
      { op: 'setRequest', name: 'x-b', value: `copy ${req('x-a')}` },
      { op: 'removeRequest', name: 'x-drop' },
      { op: 'updateRequest', name: 'x-a', regex: 'o(n)e', flags: '', replacement: '$1!' },
    ];
    applyRequestRules(headers, ops, { 'x-a': 'one' });
    expect(Object.fromEntries(headers)).toEqual({ 'x-a': 'n!', 'x-b': 'copy one' });
  });

  it('upstream rules change the action answer; response rules ignore them and vice versa', () => {
    const headers = new Headers({ 'x-backend': 'backend-7', 'x-secret': 's' });
    const ops: HeaderOp[] = [
      { op: 'removeUpstreamResponse', name: 'x-secret' },
      { op: 'setUpstreamResponse', name: 'x-up', value: 'yes' },
      {
        op: 'updateUpstreamResponse',
        name: 'x-backend',
        regex: 'backend-(\\d+)',
        flags: '',
        replacement: 'edge-$1',
      },
      { op: 'setResponse', name: 'x-final', value: 'later' },
    ];
    applyUpstreamRules(headers, ops);
    expect(Object.fromEntries(headers)).toEqual({ 'x-backend': 'edge-7', 'x-up': 'yes' });
  });

  it('response rules: set with interpolation, remove, update, cookies apart, CORS by origin', () => {
    const headers = new Headers({ 'x-version': 'v7', 'x-gone': '1' });
    const ops: HeaderOp[] = [
      { op: 'setResponse', name: 'x-who', value: `${req('x-user')}` },
      { op: 'removeResponse', name: 'x-gone' },
      { op: 'updateResponse', name: 'x-version', regex: 'v(\\d+)', flags: '', replacement: '$1' },
      { op: 'addResponseCookie', name: 'a', value: '1' },
      { op: 'addResponseCookie', name: 'b', value: '2' },
      { op: 'cors', origin: ['https://ok.example'], credentials: true, exposeHeaders: ['x-total'] },
    ];
    applyResponseRules(headers, ops, { 'x-user': 'ann', origin: 'https://ok.example' });
    expect(headers.get('x-who')).toBe('ann');
    expect(headers.has('x-gone')).toBe(false);
    expect(headers.get('x-version')).toBe('7');
    expect(headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(headers.get('access-control-allow-origin')).toBe('https://ok.example');
    expect(headers.get('access-control-allow-credentials')).toBe('true');
    expect(headers.get('access-control-expose-headers')).toBe('x-total');
    expect(headers.get('vary')).toBe('origin');
    const other = new Headers();
    applyResponseRules(other, ops, { origin: 'https://evil.example' });
    expect(other.has('access-control-allow-origin')).toBe(false);
    expect(other.get('vary')).toBe('origin');
  });
});
