import { encodeShieldBeat, SHIELD_HEARTBEAT_SUBJECT } from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { ShieldRoster } from './shield-roster.ts';

const transports: InProcessTransport[] = [];
afterEach(async () => {
  for (const t of transports.splice(0)) await t.drain();
});

describe('ShieldRoster', () => {
  it('knows the live shields once it has listened as long as a purger would', async () => {
    const transport = new InProcessTransport();
    transports.push(transport);
    let clock = 0;
    const roster = new ShieldRoster(transport, () => clock);
    expect(roster.live()).toBeUndefined(); // not started
    roster.start();
    const beat = (shieldId: string, extra: { leaving?: boolean } = {}) =>
      transport.publish(SHIELD_HEARTBEAT_SUBJECT, {
        headers: {},
        body: encodeShieldBeat({ shieldId, region: 'eu', intervalMs: 1000, ...extra }),
      });
    const settle = () => new Promise((r) => setTimeout(r, 10));
    beat('shield-b');
    beat('shield-a');
    transport.publish(SHIELD_HEARTBEAT_SUBJECT, { headers: {}, body: new Uint8Array([1]) });
    await settle();
    clock = 1000;
    expect(roster.live()).toBeUndefined(); // 1300 ms not yet
    clock = 1300;
    expect(roster.live()).toEqual([
      { shieldId: 'shield-a', region: 'eu' },
      { shieldId: 'shield-b', region: 'eu' },
    ]);
    // shield-a keeps beating, shield-b falls silent past 1.5 intervals, shield-c leaves.
    beat('shield-c');
    await settle();
    clock = 1700;
    beat('shield-a');
    beat('shield-c', { leaving: true });
    await settle();
    expect(roster.live()?.map((s) => s.shieldId)).toEqual(['shield-a']);
    await roster.close();
    expect(roster.live()).toBeUndefined();
  });
});
