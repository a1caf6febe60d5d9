/**
 * The embedded fleet (`./run start`, `flotilla dev`) works with secrets
 * without an operator: it makes an ephemeral secrets key pair, publishes the
 * public half to its in-memory control plane, and its workers decrypt what
 * is sealed to it (real isolates on piscina threads).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePublicKey, sealSecret } from '@flotilla/deploy';
import { type RunningFleet, startEmbedded } from '@flotilla/fleet';
import { publishBundle } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const APP = {
  name: 'dev-vault',
  code: `Flotilla.serve((req, env) => new Response('token=' + env.TOKEN + ';plain=' + env.PLAIN));`,
};

let fleet: RunningFleet;
let dir: string;
let kid: string | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-embedded-secrets-'));
  fleet = await startEmbedded({
    port: 0,
    workers: 1,
    storeDir: join(dir, 'store'),
    seed: async (cp) => {
      await publishBundle(cp, dir, APP);
      const key = await cp.secretsKey();
      kid = key?.kid;
      if (key === undefined) throw new Error('the embedded fleet set no secrets key');
      const place = { app: APP.name, env: 'production', name: 'TOKEN' };
      await cp.configure(APP.name, 'production', {
        vars: { PLAIN: 'p' },
        secrets: { TOKEN: sealSecret(parsePublicKey('key', key.publicKey), place, 'dev-secret') },
      });
      return undefined;
    },
  });
}, 60_000);

afterAll(async () => {
  await fleet?.drain();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('embedded fleet with secrets', () => {
  it('makes an ephemeral secrets key and decrypts what is sealed to it', async () => {
    expect(kid).toMatch(/^[0-9a-f]{16}$/);
    const res = await fetch(`${fleet.url}/${APP.name}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('token=dev-secret;plain=p');
    const [env] = (await fleet.controlPlane?.environments(APP.name)) ?? [];
    expect(JSON.stringify(env)).not.toContain('dev-secret');
  });
});
