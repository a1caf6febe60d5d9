/**
 * The compile cache only ever holds data this process produced, but V8 must
 * still refuse anything that does not match the source: a tampered or
 * mismatched entry can neither break a bundle nor run other code.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CompileCache, DeploymentIsolate } from '@flotilla/runtime';
import ivm from 'isolated-vm';
import { afterEach, describe, expect, it } from 'vitest';

const loaded: DeploymentIsolate[] = [];
afterEach(() => {
  for (const iso of loaded.splice(0)) iso.dispose();
});

const hash = (code: string) => createHash('sha256').update(code).digest('hex');
const page = (label: string) => `Flotilla.serve(() => new Response(${JSON.stringify(label)}));`;

async function renderWith(cache: CompileCache, code: string, key = hash(code)): Promise<string> {
  const iso = await DeploymentIsolate.load({
    deploymentId: 'cache-test',
    code,
    bundleHash: key,
    compileCache: cache,
  });
  loaded.push(iso);
  const res = await iso.render({ method: 'GET', url: 'http://x/', headers: [], body: null });
  return Buffer.from(res.body).toString();
}

describe('a tampered compile cache', () => {
  it('is rejected by V8: random bytes under a bundle hash do not stop the bundle', async () => {
    const cache = new CompileCache();
    const code = page('genuine');
    cache.set(hash(code), new ivm.ExternalCopy(randomBytes(4096).buffer));
    expect(await renderWith(cache, code)).toBe('genuine');
    expect(await renderWith(cache, code)).toBe('genuine');
  });

  it('cannot make a bundle run another bundle’s compiled code', async () => {
    const cache = new CompileCache();
    const victim = page('victim page!');
    const attacker = page('attacker pag');
    expect(await renderWith(cache, attacker)).toBe('attacker pag');
    // The attacker's compiled code filed under the victim's hash…
    const attackerData = cache.get(hash(attacker));
    if (!attackerData) throw new Error('the compile cache kept nothing');
    cache.set(hash(victim), attackerData);
    // …is refused for the victim's source: the victim still renders its own page.
    expect(await renderWith(cache, victim)).toBe('victim page!');
  });
});
