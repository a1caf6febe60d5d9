import { FlotillaError } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import { normalizeIp, TrustedProxies } from './trusted-proxies.ts';

describe('normalizeIp', () => {
  it.each([
    ['203.0.113.9', '203.0.113.9'],
    [' 203.0.113.9 ', '203.0.113.9'],
    ['203.0.113.9:51234', '203.0.113.9'],
    ['"203.0.113.9"', '203.0.113.9'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:443', '2001:db8::1'],
    ['"[2001:db8::1]:4711"', '2001:db8::1'],
    ['fe80::1%eth0', 'fe80::1'],
    ['::1', '::1'],
  ])('%s → %s', (input, output) => {
    expect(normalizeIp(input)).toBe(output);
  });

  it.each([
    'unknown',
    '_hidden',
    '',
    '1.2.3',
    '999.1.1.1',
    '[2001:db8::1',
    '[2001:db8::1]x',
    'evil.example',
    '1.2.3.4, 5.6.7.8',
  ])('refuses %j', (input) => {
    expect(normalizeIp(input)).toBeUndefined();
  });
});

describe('TrustedProxies', () => {
  it('matches addresses and CIDR ranges, IPv4 and IPv6', () => {
    const p = new TrustedProxies(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1']);
    expect(p.has('10.255.0.1')).toBe(true);
    expect(p.has('11.0.0.1')).toBe(false);
    expect(p.has('192.0.2.7')).toBe(true);
    expect(p.has('192.0.2.8')).toBe(false);
    expect(p.has('2001:db8:ffff::1')).toBe(true);
    expect(p.has('2001:db9::1')).toBe(false);
    expect(p.has('::1')).toBe(true);
    expect(p.has('[::1]:80')).toBe(true);
    expect(p.size).toBe(4);
  });

  it('matches IPv4-mapped IPv6 peers (a dual-stack socket) against IPv4 ranges', () => {
    const p = new TrustedProxies(['10.0.0.0/8']);
    expect(p.has('::ffff:10.1.2.3')).toBe(true);
    expect(p.has('::ffff:a01:203')).toBe(true);
    expect(p.has('::ffff:11.1.2.3')).toBe(false);
  });

  it('knows loopback, private and linklocal', () => {
    const p = new TrustedProxies(['loopback', 'private', 'LinkLocal']);
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '10.0.0.1', '172.20.0.1', '192.168.1.1']) {
      expect(p.has(a), a).toBe(true);
    }
    for (const a of ['fd00::1', '169.254.1.1', 'fe80::1']) expect(p.has(a), a).toBe(true);
    for (const a of ['172.32.0.1', '8.8.8.8', '2001:4860::8888']) expect(p.has(a), a).toBe(false);
  });

  it('trusts nothing when empty, and nothing that is no address', () => {
    expect(new TrustedProxies([]).has('127.0.0.1')).toBe(false);
    const p = new TrustedProxies(['0.0.0.0/0', '::/0']);
    expect(p.has('8.8.8.8')).toBe(true);
    expect(p.has(undefined)).toBe(false);
    expect(p.has('evil.example')).toBe(false);
  });

  it('names the bad entry', () => {
    expect(() => new TrustedProxies(['10.0.0.0/8', 'proxy.internal'])).toThrow(
      /trustedProxies\[1\].*proxy\.internal/,
    );
    expect(() => new TrustedProxies(['10.0.0.0/33'])).toThrow(/trustedProxies\[0\].*0–32/);
    expect(() => new TrustedProxies(['2001:db8::/129'])).toThrow(/0–128/);
    expect(() => new TrustedProxies(['10.0.0.0/x'])).toThrow(FlotillaError);
    expect(() => new TrustedProxies('10.0.0.0/8' as unknown as string[])).toThrow(/trustedProxies/);
  });
});
