import { describe, expect, it } from 'vitest';
import {
  decodePurgeAck,
  decodePurgeRequest,
  decodeShieldBeat,
  encodePurgeAck,
  encodePurgeRequest,
  encodeShieldBeat,
  normalizePurgeUrl,
  PURGE_SUBJECT,
  type PurgeSelector,
  purgeSelectorProblem,
  SHIELD_HEARTBEAT_SUBJECT,
} from './purge.ts';
import { regionSubjects } from './subjects.ts';

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe('purge messages', () => {
  it.each<PurgeSelector>([
    { kind: 'url', url: 'shop.example.com/p/1?color=red' },
    { kind: 'path', pattern: '/p/:id*' },
    { kind: 'path', pattern: '/p/:id*', app: 'shop', environment: 'production' },
    { kind: 'surrogate-key', key: 'product-42' },
    { kind: 'surrogate-key', key: 'product-42', app: 'shop' },
    { kind: 'environment', app: 'shop', environment: 'staging' },
  ])('round-trips a purge of %j', (selector) => {
    const req = { purgeId: 'p-1_x', selector };
    expect(decodePurgeRequest(encodePurgeRequest(req))).toEqual(req);
  });

  it('drops fields a selector does not have', () => {
    const decoded = decodePurgeRequest(
      bytes({ purgeId: 'a', selector: { kind: 'url', url: 'h/x', app: 'shop', extra: 1 } }),
    );
    expect(decoded.selector).toEqual({ kind: 'url', url: 'h/x' });
  });

  it.each([
    [{ kind: 'url', url: '/no-host' }, /url must be host \+ path/],
    [{ kind: 'url', url: 'host-only' }, /url must be host \+ path/],
    [{ kind: 'path', pattern: 'p/:id' }, /pattern must be a path pattern starting with \//],
    [{ kind: 'path', pattern: '/p', app: 'Shop' }, /app must be lower-case/],
    [{ kind: 'path', pattern: '/p', environment: 'a.>' }, /environment must be lower-case/],
    [{ kind: 'surrogate-key', key: 'a b' }, /one surrogate key/],
    [{ kind: 'surrogate-key', key: '' }, /one surrogate key/],
    [{ kind: 'environment', app: 'shop' }, /app and environment/],
    [{ kind: 'everything' }, /kind must be url, path, surrogate-key or environment/],
    ['url', /must be an object/],
  ])('rejects the selector %j, saying why', (selector, message) => {
    expect(purgeSelectorProblem(selector)).toMatch(message);
    expect(() => decodePurgeRequest(bytes({ purgeId: 'a', selector }))).toThrow(message);
    expect(() => encodePurgeRequest({ purgeId: 'a', selector: selector as PurgeSelector })).toThrow(
      expect.objectContaining({ code: 'FLOTILLA_ERR_INVALID_OPTION' }),
    );
  });

  it('rejects malformed purge requests as protocol errors', () => {
    const protocolError = expect.objectContaining({ code: 'FLOTILLA_ERR_PROTOCOL' });
    expect(() => decodePurgeRequest(new TextEncoder().encode('{'))).toThrow(protocolError);
    expect(() => decodePurgeRequest(bytes({ selector: { kind: 'url', url: 'h/' } }))).toThrow(
      /purgeId/,
    );
    expect(() =>
      decodePurgeRequest(bytes({ purgeId: 'a b', selector: { kind: 'url', url: 'h/' } })),
    ).toThrow(protocolError);
    expect(() => encodePurgeRequest({ purgeId: '', selector: { kind: 'url', url: 'h/' } })).toThrow(
      /purgeId/,
    );
  });

  it('round-trips acks, with and without an error', () => {
    const ok = { purgeId: 'p1', shieldId: 'shield-a', region: 'eu-west', removed: 3 };
    expect(decodePurgeAck(encodePurgeAck(ok))).toEqual(ok);
    const failed = { ...ok, removed: 0, error: 'store is closed' };
    expect(decodePurgeAck(encodePurgeAck(failed))).toEqual(failed);
    for (const bad of [
      { ...ok, removed: -1 },
      { ...ok, removed: 1.5 },
      { ...ok, shieldId: 'a.b' },
      { ...ok, region: undefined },
      { ...ok, error: 3 },
    ]) {
      expect(() => decodePurgeAck(bytes(bad))).toThrow(/purge ack has the wrong shape/);
    }
  });

  it('round-trips shield heartbeats and rejects bad ones', () => {
    const beat = { shieldId: 'shield-a', region: 'local', intervalMs: 1000 };
    expect(decodeShieldBeat(encodeShieldBeat(beat))).toEqual(beat);
    expect(decodeShieldBeat(encodeShieldBeat({ ...beat, leaving: true }))).toEqual({
      ...beat,
      leaving: true,
    });
    expect(decodeShieldBeat(encodeShieldBeat({ ...beat, leaving: false }))).toEqual(beat);
    for (const bad of [{ ...beat, intervalMs: 0 }, { ...beat, shieldId: '*' }, [beat]]) {
      expect(() => decodeShieldBeat(bytes(bad))).toThrow(/shield heartbeat/);
    }
  });

  it('uses subjects no region subject can collide with', () => {
    // Every region subject has 3+ tokens; ours have 2 (so `flotilla.*.heartbeat` misses them).
    expect(PURGE_SUBJECT.split('.')).toHaveLength(2);
    expect(SHIELD_HEARTBEAT_SUBJECT.split('.')).toHaveLength(2);
    const r = regionSubjects('shields');
    expect([r.heartbeat, r.miss, r.schedulerHeartbeat]).not.toContain(SHIELD_HEARTBEAT_SUBJECT);
  });
});

describe('normalizePurgeUrl', () => {
  it.each([
    ['https://Shop.Example.com/p/1?color=red#top', 'shop.example.com/p/1?color=red'],
    ['http://shop.localhost:3000/p/1', 'shop.localhost/p/1'],
    ['shop.example.com/p/1', 'shop.example.com/p/1'],
    ['SHOP.example.com', 'shop.example.com/'],
    ['shop.example.com?x=1', 'shop.example.com/?x=1'],
    ['http://[::1]:3000/a', '[::1]/a'],
  ])('%s → %s', (input, expected) => {
    expect(normalizePurgeUrl(input)).toBe(expected);
    expect(purgeSelectorProblem({ kind: 'url', url: expected })).toBeUndefined();
  });

  it.each(['', 'https:///p/1', '/p/1'])('rejects %j (no host)', (input) => {
    expect(() => normalizePurgeUrl(input)).toThrow(/is not a URL with a host/);
  });
});
