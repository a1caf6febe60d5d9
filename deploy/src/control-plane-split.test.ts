import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane.ts';
import { MemoryControlStore } from './memory-control-store.ts';
import { decodeEnvironment, type EnvironmentRecord, encodeEnvironment } from './records.ts';
import { tempDir, writeBuild } from './test-builds.ts';

let root: { path: string; remove(): Promise<void> };
beforeEach(async () => {
  root = await tempDir('flotilla-split-');
});
afterEach(async () => {
  await root.remove();
});

/** A control plane with shop deployments a, b, c (a serves production) and one of another app. */
async function fleet() {
  const plane = new ControlPlane({ store: new MemoryControlStore() });
  const ids: string[] = [];
  for (const v of ['a', 'b', 'c']) {
    const build = await writeBuild(root.path, v, { code: `export default '${v}';\n` });
    ids.push((await plane.publish({ dir: build.dir })).deployment.id);
  }
  const [a, b, c] = ids as [string, string, string];
  await plane.promote(a, 'production');
  const blog = await writeBuild(root.path, 'blog', { name: 'blog' });
  const other = (await plane.publish({ dir: blog.dir }, { env: 'production' })).deployment.id;
  return { plane, a, b, c, other };
}

async function stored(plane: ControlPlane, app = 'shop', env = 'production') {
  return (await plane.environments(app)).find((e) => e.env === env) as EnvironmentRecord;
}

describe('ControlPlane split tests', () => {
  it('sets a split, keeps it in the record and ends it with null', async () => {
    const { plane, a, b } = await fleet();
    const split = [
      { deploymentId: a, percent: 90 },
      { deploymentId: b, percent: 10 },
    ];
    const record = await plane.configure('shop', 'production', { split });
    expect(record.split).toEqual(split);
    expect(record.deploymentId).toBe(a);
    expect((await stored(plane)).split).toEqual(split);

    // Other settings leave it alone.
    await plane.configure('shop', 'production', { vars: { X: '1' } });
    expect((await stored(plane)).split).toEqual(split);

    const cleared = await plane.configure('shop', 'production', { split: null });
    expect(cleared.split).toBeUndefined();
    expect((await stored(plane)).split).toBeUndefined();
  });

  it('is pushed to watchers (the shields)', async () => {
    const { plane, a, b } = await fleet();
    const seen: Array<EnvironmentRecord['split']> = [];
    const watch = plane.watchEnvironments((envs) =>
      seen.push(envs.find((e) => e.app === 'shop')?.split),
    );
    await watch.initial;
    await plane.configure('shop', 'production', {
      split: [
        { deploymentId: b, percent: 30 },
        { deploymentId: a, percent: 70 },
      ],
    });
    await expect
      .poll(() => seen.at(-1))
      .toEqual([
        { deploymentId: b, percent: 30 },
        { deploymentId: a, percent: 70 },
      ]);
    watch.stop();
  });

  it('ends the split on a promote to another deployment and on a rollback', async () => {
    const { plane, a, b, c } = await fleet();
    const split = [
      { deploymentId: a, percent: 50 },
      { deploymentId: b, percent: 50 },
    ];
    await plane.configure('shop', 'production', { split });
    // Promoting what it serves already changes nothing.
    expect((await plane.promote(a, 'production')).split).toEqual(split);
    const promoted = await plane.promote(b, 'production');
    expect(promoted.split).toBeUndefined();
    expect((await stored(plane)).split).toBeUndefined();

    await plane.configure('shop', 'production', {
      split: [
        { deploymentId: b, percent: 60 },
        { deploymentId: c, percent: 40 },
      ],
    });
    const rolledBack = await plane.rollback('shop', 'production');
    expect(rolledBack.deploymentId).toBe(a);
    expect(rolledBack.split).toBeUndefined();
  });

  it('refuses to delete a deployment a split still sends visitors to', async () => {
    const { plane, a, b } = await fleet();
    await plane.configure('shop', 'production', {
      split: [
        { deploymentId: a, percent: 80 },
        { deploymentId: b, percent: 20 },
      ],
    });
    await expect(plane.deleteDeployment(b)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
      message: expect.stringMatching(/served by environment production of shop/),
    });
    await plane.configure('shop', 'production', { split: null });
    await expect(plane.deleteDeployment(b)).resolves.toBeUndefined();
  });

  it('must include the deployment the environment serves', async () => {
    const { plane, b, c } = await fleet();
    await expect(
      plane.configure('shop', 'production', {
        split: [
          { deploymentId: b, percent: 50 },
          { deploymentId: c, percent: 50 },
        ],
      }),
    ).rejects.toThrow(
      /option "split" must include shop-[0-9a-f]{12}, the deployment environment production of shop serves/,
    );
  });

  it('names a deployment that does not exist or belongs to another app', async () => {
    const { plane, a, other } = await fleet();
    await expect(
      plane.configure('shop', 'production', {
        split: [
          { deploymentId: a, percent: 50 },
          { deploymentId: 'shop-000000000000', percent: 50 },
        ],
      }),
    ).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
      message: 'deployment shop-000000000000 of the split does not exist',
    });
    await expect(
      plane.configure('shop', 'production', {
        split: [
          { deploymentId: a, percent: 50 },
          { deploymentId: other, percent: 50 },
        ],
      }),
    ).rejects.toThrow(
      new RegExp(
        `option "split\\[1\\].deploymentId" ${other} is a deployment of blog, not of shop`,
      ),
    );
  });

  it('refuses a split of an environment that does not exist', async () => {
    const { plane, a, b } = await fleet();
    await expect(
      plane.configure('shop', 'staging', {
        split: [
          { deploymentId: a, percent: 50 },
          { deploymentId: b, percent: 50 },
        ],
      }),
    ).rejects.toMatchObject({ code: 'FLOTILLA_ERR_NOT_FOUND' });
  });

  it.each([
    ['not a list', { a: 1 }, /option "split" must be a list/],
    [
      'one deployment',
      [{ deploymentId: 'shop-aaaaaaaaaaaa', percent: 100 }],
      /must list 2 to 10 deployments, got 1/,
    ],
    [
      'eleven deployments',
      Array.from({ length: 11 }, (_, i) => ({
        deploymentId: `shop-${String(i).padStart(12, '0')}`,
        percent: 1,
      })),
      /must list 2 to 10 deployments, got 11/,
    ],
    [
      'a sum of 90',
      [
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 60 },
        { deploymentId: 'shop-bbbbbbbbbbbb', percent: 30 },
      ],
      /option "split" percents must add up to 100, got 60 \+ 30 = 90/,
    ],
    [
      'a fraction',
      [
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 50.5 },
        { deploymentId: 'shop-bbbbbbbbbbbb', percent: 49.5 },
      ],
      /option "split\[0\].percent" must be a whole percent from 1 to 100, got 50.5/,
    ],
    [
      'a zero',
      [
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 100 },
        { deploymentId: 'shop-bbbbbbbbbbbb', percent: 0 },
      ],
      /option "split\[1\].percent" must be a whole percent/,
    ],
    [
      'a duplicate',
      [
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 50 },
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 50 },
      ],
      /option "split\[1\].deploymentId" shop-aaaaaaaaaaaa is listed twice/,
    ],
    [
      'a malformed id',
      [
        { deploymentId: 'shop', percent: 50 },
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 50 },
      ],
      /option "split\[0\].deploymentId" must be a deployment id/,
    ],
    [
      'an entry that is not an object',
      ['shop-aaaaaaaaaaaa', 'x'],
      /option "split\[0\]" must be an object/,
    ],
  ])('rejects %s with a message naming the field', async (_what, split, message) => {
    const { plane } = await fleet();
    await expect(plane.configure('shop', 'production', { split: split as never })).rejects.toThrow(
      message,
    );
    expect((await stored(plane)).split).toBeUndefined();
  });
});

describe('environment records with a split', () => {
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

  it('round-trip the split, and store none when there is none', () => {
    const split = [
      { deploymentId: 'shop-aaaaaaaaaaaa', percent: 75 },
      { deploymentId: 'shop-bbbbbbbbbbbb', percent: 25 },
    ];
    expect(decodeEnvironment('k', encodeEnvironment({ ...base, split }), 3)).toEqual({
      ...base,
      split,
      revision: 3,
    });
    const bytes = encodeEnvironment(base);
    expect(new TextDecoder().decode(bytes)).not.toContain('split');
    expect(decodeEnvironment('k', bytes, 1).split).toBeUndefined();
  });

  it('ignore a malformed stored split', () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ ...base, split: [{ percent: 'x' }] }));
    expect(decodeEnvironment('k', bytes, 1).split).toBeUndefined();
  });
});
