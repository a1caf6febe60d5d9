import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane.ts';
import { ControlPlaneBundleStore } from './control-plane-bundle-store.ts';
import { MemoryControlStore } from './memory-control-store.ts';
import {
  generateSecretsKeyPair,
  parsePrivateKeys,
  parsePublicKey,
  SecretKeyring,
  sealSecret,
} from './secret-envelope.ts';
import { tempDir, writeBuild } from './test-builds.ts';

let root: { path: string; remove(): Promise<void> };
const stores: ControlPlaneBundleStore[] = [];
beforeEach(async () => {
  root = await tempDir('flotilla-secrets-');
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await root.remove();
});

async function setup() {
  const cp = new ControlPlane({ store: new MemoryControlStore() });
  const build = await writeBuild(root.path, 'v1');
  await cp.publish({ dir: build.dir }, { env: 'production' });
  const keys = generateSecretsKeyPair();
  const publicKey = parsePublicKey('k', keys.publicKeyPem);
  const ring = new SecretKeyring(parsePrivateKeys('k', keys.privateKeyPem));
  const bundles = (secretKeys?: SecretKeyring) => {
    const store = new ControlPlaneBundleStore({
      controlPlane: cp,
      cacheDir: join(root.path, 'cache'),
      ...(secretKeys ? { secretKeys } : {}),
    });
    stores.push(store);
    return store;
  };
  return { cp, build, keys, publicKey, ring, bundles };
}

describe('secrets in the control plane', () => {
  it('keeps the fleet secrets public key, only the public half', async () => {
    const { cp, keys } = await setup();
    expect(await cp.secretsKey()).toBeUndefined();
    const set = await cp.setSecretsKey(keys.privateKeyPem);
    expect(set).toMatchObject({ kid: keys.kid, publicKey: keys.publicKeyPem });
    expect(await cp.secretsKey()).toEqual(set);
    const other = generateSecretsKeyPair();
    expect((await cp.setSecretsKey(other.publicKeyPem)).kid).toBe(other.kid);
    await expect(cp.setSecretsKey('not a key')).rejects.toThrow(/publicKey/);
  });

  it('stores sealed secrets beside plain variables; a name is one or the other', async () => {
    const { cp, publicKey } = await setup();
    const place = { app: 'shop', env: 'production', name: 'TOKEN' };
    let env = await cp.configure('shop', 'production', {
      vars: { TOKEN: 'plain', OTHER: 'x' },
    });
    env = await cp.configure('shop', 'production', {
      secrets: { TOKEN: sealSecret(publicKey, place, 'sealed') },
    });
    expect(Object.keys(env.vars)).toEqual(['OTHER']);
    expect(Object.keys(env.secrets)).toEqual(['TOKEN']);
    expect((await cp.environments('shop'))[0]?.secrets.TOKEN).toEqual(env.secrets.TOKEN);
    env = await cp.configure('shop', 'production', { vars: { TOKEN: 'plain again' } });
    expect(env.secrets).toEqual({});
    await expect(
      cp.configure('shop', 'production', {
        vars: { A: 'x' },
        secrets: { A: sealSecret(publicKey, { ...place, name: 'A' }, 'y') },
      }),
    ).rejects.toThrow(/secrets.A.*also set as a plain variable/);
    await expect(
      cp.configure('shop', 'production', {
        secrets: { TOKEN: { v: 1, kid: 'x' } as never },
      }),
    ).rejects.toThrow(/secrets.TOKEN/);
    await expect(
      cp.configure('shop', 'production', { secrets: { TOKEN: 'plain' as never } }),
    ).rejects.toThrow(/must be a sealed secret/);
  });

  it('rewraps a secret to another key only while it is still the envelope read', async () => {
    const { cp, publicKey, ring } = await setup();
    const place = (name: string) => ({ app: 'shop', env: 'production', name });
    const next = generateSecretsKeyPair();
    const nextKey = parsePublicKey('k', next.publicKeyPem);
    const before = await cp.configure('shop', 'production', {
      secrets: {
        A: sealSecret(publicKey, place('A'), 'a'),
        B: sealSecret(publicKey, place('B'), 'b'),
      },
    });
    const from = before.secrets;
    // B is set again (to the old key) after the rotation read it.
    await cp.configure('shop', 'production', {
      secrets: { B: sealSecret(publicKey, place('B'), 'b2') },
    });
    const { environment, replaced } = await cp.rewrapSecrets('shop', 'production', {
      A: { from: from.A as never, to: sealSecret(nextKey, place('A'), 'a') },
      B: { from: from.B as never, to: sealSecret(nextKey, place('B'), 'b') },
    });
    expect(replaced).toEqual(['A']);
    expect(environment.secrets.A?.kid).toBe(next.kid);
    expect(ring.open(place('B'), environment.secrets.B as never)).toBe('b2');
    await expect(
      cp.rewrapSecrets('shop', 'production', { A: { from: 'x', to: 'y' } as never }),
    ).rejects.toThrow(/rewraps.A/);
  });

  it('workers get the decrypted value in env; without the key the render fails with FLOTILLA_ERR_SECRET', async () => {
    const { cp, build, publicKey, ring, bundles } = await setup();
    await cp.configure('shop', 'production', {
      vars: { PLAIN: 'p' },
      secrets: {
        TOKEN: sealSecret(publicKey, { app: 'shop', env: 'production', name: 'TOKEN' }, 's3'),
      },
    });
    expect((await bundles(ring).resolve(build.id, 'production')).env).toEqual({
      PLAIN: 'p',
      TOKEN: 's3',
    });
    // A preview gets no variables at all.
    expect((await bundles(ring).resolve(build.id)).env).toBeUndefined();
    const logs: Array<Record<string, unknown>> = [];
    const keyless = new ControlPlaneBundleStore({
      controlPlane: cp,
      cacheDir: join(root.path, 'cache'),
      log: (line) => logs.push(line),
    });
    stores.push(keyless);
    await expect(keyless.resolve(build.id, 'production')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_SECRET',
    });
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'secret not decrypted', app: 'shop', variable: 'TOKEN' }),
    );
    expect(JSON.stringify(logs)).not.toContain('s3');
  });
});
