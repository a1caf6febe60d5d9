import { describe, expect, it } from 'vitest';
import { hostOnly, hostPort } from './host.ts';

describe('hostOnly', () => {
  it('lower-cases the host name and drops the port and surrounding spaces', () => {
    expect(hostOnly('SHOP.localhost:3000')).toBe('shop.localhost');
    expect(hostOnly(' www.shop.test:8080 ')).toBe('www.shop.test');
    expect(hostOnly('shop.localhost')).toBe('shop.localhost');
  });

  it('keeps the brackets of an IPv6 literal', () => {
    expect(hostOnly('[::1]:3000')).toBe('[::1]');
    expect(hostOnly('[::1]')).toBe('[::1]');
  });
});

describe('hostPort', () => {
  it('is the port of the Host header, or empty', () => {
    expect(hostPort('shop.localhost:8080')).toBe('8080');
    expect(hostPort('[::1]:3000')).toBe('3000');
    expect(hostPort('shop.localhost')).toBe('');
    expect(hostPort('[::1]')).toBe('');
  });
});
