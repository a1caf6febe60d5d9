import type { Manifest } from '@flotilla/manifest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane.ts';
import { MemoryControlStore } from './memory-control-store.ts';
import { decodeEnvironment, type EnvironmentRecord, encodeEnvironment } from './records.ts';
import { tempDir, writeBuild } from './test-builds.ts';

let root: { path: string; remove(): Promise<void> };
beforeEach(async () => {
  root = await tempDir('flotilla-split-rules-');
});
afterEach(async () => {
  await root.remove();
});

/** A render route of router destination `destination`. */
function route(id: number, destination: string): Manifest['routes'][number] {
  return {
    id,
    criteria: { path: '/:path*' },
    fallback: false,
    action: { kind: 'render' },
    headerOps: [],
    destination,
  };
}

/** Shop deployment a (serving production, destinations legacy and modern) and b (none). */
async function fleet() {
  const plane = new ControlPlane({ store: new MemoryControlStore() });
  const withDestinations = await writeBuild(root.path, 'a', {
    routes: [route(0, 'legacy'), route(1, 'modern')],
  });
  const a = (await plane.publish({ dir: withDestinations.dir }, { env: 'production' })).deployment
    .id;
  const plain = await writeBuild(root.path, 'b', { code: "export default 'b';\n" });
  const b = (await plane.publish({ dir: plain.dir })).deployment.id;
  return { plane, a, b };
}

async function stored(plane: ControlPlane) {
  return (await plane.environments('shop')).find(
    (e) => e.env === 'production',
  ) as EnvironmentRecord;
}

describe('ControlPlane split-test rules and router destinations', () => {
  it('stores rules over deployments and destinations, normalised, and ends them with null or a promote', async () => {
    const { plane, a, b } = await fleet();
    const record = await plane.configure('shop', 'production', {
      splitRules: [
        {
          when: { header: { name: 'X-Beta', value: '1' }, country: ['de'] },
          split: [{ deploymentId: a, destination: 'modern', percent: 100 }],
        },
        { when: { device: ['smartphone'] }, split: [{ deploymentId: b, percent: 100 }] },
      ],
      split: [
        { deploymentId: a, destination: 'legacy', percent: 50 },
        { deploymentId: a, destination: 'modern', percent: 50 },
      ],
    });
    expect(record.splitRules?.[0]?.when).toEqual({
      header: { name: 'x-beta', value: '1' },
      country: ['DE'],
    });
    expect((await stored(plane)).splitRules).toEqual(record.splitRules);
    expect(record.split).toHaveLength(2);
    // A deployment a rule sends visitors to cannot be deleted.
    await expect(plane.deleteDeployment(b)).rejects.toThrow(/production/);

    await plane.configure('shop', 'production', { splitRules: null });
    expect((await stored(plane)).splitRules).toBeUndefined();

    await plane.configure('shop', 'production', {
      splitRules: [
        { when: { cookie: { name: 'beta' } }, split: [{ deploymentId: b, percent: 100 }] },
      ],
    });
    await plane.promote(b, 'production');
    const promoted = await stored(plane);
    expect(promoted.splitRules).toBeUndefined();
    expect(promoted.split).toBeUndefined();
  });

  it.each([
    [
      'a destination the router does not declare',
      (a: string) => [
        {
          when: { device: ['tablet'] },
          split: [{ deploymentId: a, destination: 'nope', percent: 100 }],
        },
      ],
      /splitRules\[0\]\.split\[0\]\.destination.*has no destination "nope" \(it declares legacy, modern\)/,
    ],
    [
      'a rule without criteria',
      (a: string) => [{ when: {}, split: [{ deploymentId: a, percent: 100 }] }],
      /splitRules\[0\]\.when.*at least one criterion/,
    ],
    [
      'an unknown criterion',
      (a: string) => [{ when: { ip: '1.2.3.4' }, split: [{ deploymentId: a, percent: 100 }] }],
      /splitRules\[0\]\.when\.ip.*not a known field/,
    ],
    [
      'percents that do not add up',
      (a: string) => [{ when: { device: ['desktop'] }, split: [{ deploymentId: a, percent: 90 }] }],
      /percents must add up to 100, got 90 = 90/,
    ],
    [
      'a bad device class',
      (a: string) => [{ when: { device: ['phone'] }, split: [{ deploymentId: a, percent: 100 }] }],
      /splitRules\[0\]\.when\.device\[0\].*must be one of smartphone, tablet, mobile, desktop/,
    ],
  ])('refuses %s, naming the field', async (_what, rules, message) => {
    const { plane, a } = await fleet();
    await expect(
      plane.configure('shop', 'production', { splitRules: rules(a) as never }),
    ).rejects.toThrow(message);
    expect((await stored(plane)).splitRules).toBeUndefined();
  });

  it('refuses a split destination of a deployment without destinations', async () => {
    const { plane, a, b } = await fleet();
    await expect(
      plane.configure('shop', 'production', {
        split: [
          { deploymentId: a, percent: 50 },
          { deploymentId: b, destination: 'legacy', percent: 50 },
        ],
      }),
    ).rejects.toThrow(/split\[1\]\.destination.*its router declares none/);
  });

  it('round-trips rules in the record and drops a malformed stored list', () => {
    const base = {
      app: 'shop',
      env: 'production',
      deploymentId: 'shop-aaaaaaaaaaaa',
      history: [],
      backends: {},
      vars: {},
      secrets: {},
      updatedAt: '2025-01-01T00:00:00.000Z',
    };
    const splitRules = [
      {
        when: { cookie: { name: 'beta', value: '1' } },
        split: [{ deploymentId: 'shop-bbbbbbbbbbbb', destination: 'new_exp', percent: 100 }],
      },
    ];
    expect(decodeEnvironment('k', encodeEnvironment({ ...base, splitRules }), 2)).toEqual({
      ...base,
      splitRules,
      revision: 2,
    });
    const bad = new TextEncoder().encode(JSON.stringify({ ...base, splitRules: [{ when: 1 }] }));
    expect(decodeEnvironment('k', bad, 1).splitRules).toBeUndefined();
  });
});
