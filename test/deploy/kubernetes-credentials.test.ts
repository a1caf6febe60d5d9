/**
 * The secured fleet on Kubernetes (deploy/kubernetes): every role connects
 * with its own credential from a Secret of its own, workers hold the
 * secrets key, the nats-tls component gives every role the CA, and the
 * Secrets the manifests read are the ones deploy/README.md tells the
 * operator to create, with the files `flotilla auth init` and `flotilla
 * secrets-key generate` write. Arguments are parsed with the CLI's own
 * `parseStartArgs`, so a renamed flag or a moved file breaks this suite.
 */

import { readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { parseStartArgs, runCommand, type StartCommand } from '@flotilla/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  baseDocuments,
  containerEnv,
  type Doc,
  ofKind,
  ROOT,
  readmeSecrets,
  roleOf,
  startArgs,
  withComponent,
  workloadsOf,
} from './k8s-documents.ts';

const ROLES = ['control', 'scheduler', 'shield', 'worker'];
const DOCS = baseDocuments();
const TLS_DOCS = withComponent(DOCS, 'nats-tls');

/** A Deployment's container, its parsed start arguments, and the Secrets it mounts by path. */
function pod(docs: Doc[], deployment: Doc) {
  const spec = deployment.spec.template.spec;
  const c = spec.containers[0];
  const parsed: StartCommand = parseStartArgs(startArgs(docs, c), containerEnv(docs, c));
  /** Mount path → the Secret volume mounted there. */
  const secrets = new Map<string, Doc>();
  for (const m of c.volumeMounts ?? []) {
    const volume = (spec.volumes as Doc[]).find((v) => v.name === m.name);
    if (volume?.secret) secrets.set(m.mountPath, { ...volume.secret, readOnly: m.readOnly });
  }
  return { c, parsed, secrets, role: roleOf(deployment), name: deployment.metadata.name };
}

const PODS = workloadsOf(DOCS).map((d) => pod(DOCS, d));

/** The Secret (and its key) a file path in a pod comes from; undefined when none. */
function secretFileAt(p: ReturnType<typeof pod>, file: string) {
  const secret = p.secrets.get(posix.dirname(file));
  const item = (secret?.items as Doc[] | undefined)?.find((i) => i.path === basename(file));
  return secret && item
    ? { secretName: secret.secretName as string, key: item.key as string, secret }
    : undefined;
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-k8s-creds-'));
});
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Runs a `flotilla` command in this process; throws with its stderr unless it exits 0. */
async function flotilla(command: string, args: string[]): Promise<void> {
  let stderr = '';
  const code = await runCommand(command, args, {
    stdout: () => {},
    stderr: (t) => {
      stderr += t;
    },
    env: {},
  });
  if (code !== 0) throw new Error(`flotilla ${command} ${args.join(' ')}: ${code} ${stderr}`);
}

describe('credentials on Kubernetes', () => {
  it('runs every role, the control service included, each with --creds', () => {
    expect([...new Set(PODS.map((p) => p.role))].sort()).toEqual(ROLES);
    for (const p of PODS) {
      expect(p.parsed.role, p.name).toBe(p.role);
      expect(p.parsed.security.credsFile, p.name).toBeDefined();
      // Never from the environment: FLOTILLA_CREDS would hide which file a role reads.
      expect(Object.keys(containerEnv(DOCS, p.c)), p.name).not.toContain('FLOTILLA_CREDS');
    }
  });

  it('gives every role its own credential Secret, read-only, and no role another’s', () => {
    const owners = new Map<string, string>();
    for (const p of PODS) {
      const file = p.parsed.security.credsFile as string;
      const from = secretFileAt(p, file);
      expect(from, `${p.name}: --creds ${file} is not a file of a mounted Secret`).toBeDefined();
      expect(from?.secretName, p.name).toBe(`flotilla-creds-${p.role}`);
      expect(from?.key, p.name).toBe(`${p.role}.nk`);
      expect(from?.secret.readOnly, p.name).toBe(true);
      // No write bit and nothing for others (the kubelet adds group read for fsGroup).
      expect((from?.secret.defaultMode ?? 0o644) & 0o227, p.name).toBe(0);
      const creds = [...p.secrets.values()]
        .map((s) => s.secretName as string)
        .filter((n) => n.startsWith('flotilla-creds-'));
      expect(creds, `${p.name} mounts exactly its own credential`).toEqual([
        `flotilla-creds-${p.role}`,
      ]);
      // Both cache tiers are shields: one credential, no other role's.
      const owner = owners.get(creds[0] as string);
      expect(owner ?? p.role, `${creds[0]} mounted by another role`).toBe(p.role);
      owners.set(creds[0] as string, p.role);
    }
    expect(owners.size).toBe(ROLES.length);
  });

  it('mounts the secrets key in workers only, and the worker reads it from there', () => {
    for (const p of PODS) {
      const mounted = [...p.secrets.values()].some((s) => s.secretName === 'flotilla-secrets-key');
      expect(mounted, p.name).toBe(p.role === 'worker');
      if (p.role !== 'worker') {
        expect(p.parsed.options.secretsKeyFiles, p.name).toBeUndefined();
        continue;
      }
      const files = p.parsed.options.secretsKeyFiles ?? [];
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) {
        const from = secretFileAt(p, file);
        expect(from?.secretName, file).toBe('flotilla-secrets-key');
        expect(from?.secret.readOnly).toBe(true);
        expect((from?.secret.defaultMode ?? 0o644) & 0o227).toBe(0);
      }
    }
  });

  it('reads only Secrets deploy/README.md creates, with the keys the manifests read', () => {
    const created = readmeSecrets();
    for (const docs of [DOCS, TLS_DOCS]) {
      for (const d of workloadsOf(docs)) {
        for (const volume of d.spec.template.spec.volumes as Doc[]) {
          if (!volume.secret) continue;
          const keys = created.get(volume.secret.secretName);
          expect(keys, `no README command creates ${volume.secret.secretName}`).toBeDefined();
          for (const item of volume.secret.items ?? []) {
            expect([...(keys?.keys() ?? [])], volume.secret.secretName).toContain(item.key);
          }
        }
      }
    }
  });

  it('creates the credential Secrets from the seed files `flotilla auth init` writes', async () => {
    const dir = join(scratch, 'auth');
    await flotilla('auth', ['init', '--dir', dir]);
    const written = new Set(await readdir(dir));
    const created = readmeSecrets();
    const text = readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8');
    const initDir = /^flotilla auth init --dir (\S+)/m.exec(text)?.[1];
    expect(initDir).toBeDefined();
    for (const role of ROLES) {
      const keys = created.get(`flotilla-creds-${role}`);
      expect([...(keys?.keys() ?? [])], role).toEqual([`${role}.nk`]);
      const file = keys?.get(`${role}.nk`) as string;
      expect(posix.dirname(file), `${role}: from the auth init directory`).toBe(initDir);
      expect(written.has(basename(file)), `auth init writes ${basename(file)}`).toBe(true);
    }
    // The operator's seed never goes into the cluster.
    for (const keys of created.values()) {
      for (const file of keys.values()) expect(basename(file)).not.toBe('operator.nk');
    }
  });

  it('creates the secrets-key Secret from the private key `flotilla secrets-key generate` writes', async () => {
    const text = readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8');
    const out = /^flotilla secrets-key generate --out (\S+)/m.exec(text)?.[1] as string;
    expect(out).toBeDefined();
    await flotilla('secrets-key', ['generate', '--out', join(scratch, basename(out))]);
    expect((await readdir(scratch)).sort()).toEqual(
      expect.arrayContaining([basename(out), `${basename(out)}.pub`]),
    );
    const keys = readmeSecrets().get('flotilla-secrets-key');
    // The private half, not the .pub the control plane holds.
    expect(keys?.get('secrets.pem')).toBe(out);
  });
});

describe('the nats-tls component', () => {
  it('gives every role a tls:// URL and the CA from its Secret, read-only', () => {
    const pods = workloadsOf(TLS_DOCS).map((d) => pod(TLS_DOCS, d));
    expect(pods.map((p) => p.name).sort()).toEqual(
      workloadsOf(DOCS)
        .map((d) => d.metadata.name)
        .sort(),
    );
    for (const p of pods) {
      expect(p.parsed.nats, p.name).toMatch(/^tls:\/\//);
      const ca = p.parsed.security.tlsCaFile as string;
      expect(ca, p.name).toBeDefined();
      const from = secretFileAt(p, ca);
      expect(from?.secretName, p.name).toBe('flotilla-nats-ca');
      expect(from?.secret.readOnly, p.name).toBe(true);
      // Its credential is still its own.
      expect(secretFileAt(p, p.parsed.security.credsFile as string)?.secretName).toBe(
        `flotilla-creds-${p.role}`,
      );
    }
  });

  it('is left out of the base: without it no role needs the CA Secret', () => {
    for (const p of PODS) {
      expect(p.parsed.security.tlsCaFile, p.name).toBeUndefined();
      expect(p.parsed.nats, p.name).toMatch(/^nats:\/\//);
    }
  });
});
