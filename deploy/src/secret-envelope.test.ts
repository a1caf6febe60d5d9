import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  generateSecretsKeyPair,
  parsePrivateKeys,
  parsePublicKey,
  SecretEnvelopeSchema,
  SecretKeyring,
  sealSecret,
} from './secret-envelope.ts';

const place = { app: 'shop', env: 'production', name: 'API_TOKEN' };

function pair() {
  const keys = generateSecretsKeyPair();
  return {
    ...keys,
    publicKey: parsePublicKey('test', keys.publicKeyPem),
    ring: new SecretKeyring(parsePrivateKeys('test', keys.privateKeyPem)),
  };
}

describe('secret envelopes', () => {
  it('seal to the public key and open with the private key, recording the key id', () => {
    const k = pair();
    const envelope = sealSecret(k.publicKey, place, 'hunter2 ✓');
    expect(v.is(SecretEnvelopeSchema, envelope)).toBe(true);
    expect(envelope.kid).toBe(k.kid);
    expect(JSON.stringify(envelope)).not.toContain('hunter2');
    expect(k.ring.open(place, envelope)).toBe('hunter2 ✓');
    // A fresh ephemeral key and nonce each time.
    expect(sealSecret(k.publicKey, place, 'hunter2 ✓').ct).not.toBe(envelope.ct);
    expect(k.ring.open(place, sealSecret(k.publicKey, place, ''))).toBe('');
  });

  it('do not open in another app, environment or under another name', () => {
    const k = pair();
    const envelope = sealSecret(k.publicKey, place, 'hunter2');
    for (const moved of [
      { ...place, app: 'other' },
      { ...place, env: 'staging' },
      { ...place, name: 'OTHER' },
    ]) {
      expect(() => k.ring.open(moved, envelope)).toThrow(
        expect.objectContaining({ code: 'FLOTILLA_ERR_SECRET' }),
      );
    }
  });

  it('fail with FLOTILLA_ERR_SECRET for another key, no key, or tampering, naming no value', () => {
    const a = pair();
    const b = pair();
    const envelope = sealSecret(a.publicKey, place, 'hunter2');
    expect(() => b.ring.open(place, envelope)).toThrow(
      `cannot decrypt secret API_TOKEN of shop production: it is sealed to secrets key ${a.kid}, and this process holds only ${b.kid}`,
    );
    expect(() => new SecretKeyring([]).open(place, envelope)).toThrow(/holds no secrets key/);
    const flipped = `${envelope.ct.startsWith('A') ? 'B' : 'A'}${envelope.ct.slice(1)}`;
    expect(() => a.ring.open(place, { ...envelope, ct: flipped })).toThrow(/does not open/);
  });

  it('keyrings hold several keys, newest first, and open with any of them', () => {
    const oldKey = pair();
    const newKey = pair();
    const ring = new SecretKeyring([
      ...parsePrivateKeys('new', newKey.privateKeyPem),
      ...parsePrivateKeys('old', `${oldKey.privateKeyPem}\n${oldKey.privateKeyPem}`),
    ]);
    expect(ring.kids).toEqual([newKey.kid, oldKey.kid]);
    expect(ring.newestPublicKey?.export({ format: 'pem', type: 'spki' })).toBe(newKey.publicKeyPem);
    expect(ring.open(place, sealSecret(oldKey.publicKey, place, 'old'))).toBe('old');
    expect(ring.open(place, sealSecret(newKey.publicKey, place, 'new'))).toBe('new');
  });

  it('take public keys from a public or a private PEM, and refuse other keys', () => {
    const k = pair();
    expect(parsePublicKey('k', k.privateKeyPem).export({ format: 'pem', type: 'spki' })).toBe(
      k.publicKeyPem,
    );
    expect(() => parsePublicKey('--key', 'nope')).toThrow(/--key.*is not a PEM public key/);
    expect(() => parsePrivateKeys('--key', k.publicKeyPem)).toThrow(/no PEM private key/);
  });
});
