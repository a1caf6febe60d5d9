/**
 * The Kubernetes manifests' containers, run: every role started with its
 * Deployment's command and arguments (in the repository, the image's
 * `/app`), against a real nats-server that requires the credentials, with
 * each Secret's files where the pod mounts them, made by the commands
 * deploy/README.md gives the operator (`flotilla auth init`, `flotilla
 * secrets-key generate`, run here). Only what cannot be the cluster's is
 * replaced: the NATS URL, the listeners (127.0.0.1, port 0: other suites
 * share this machine) and the mount and `emptyDir` directories (scratch
 * directories). Then each role is ready on its admin port and a page renders
 * through the fleet.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCommand } from '@flotilla/cli';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import {
  type ChildHandle,
  httpRequest,
  type NatsServerHandle,
  publishBundle,
  spawnProcess,
  startNatsServer,
  waitFor,
} from '@flotilla/test-harness';
import { natsSecurityOptions } from '@flotilla/transport';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  baseDocuments,
  componentOf,
  type Doc,
  ROOT,
  readmeSecrets,
  resolvedArgs,
  workloadsOf,
} from './k8s-documents.ts';

const DOCS = baseDocuments();
const README = join(ROOT, 'deploy', 'README.md');

let scratch: string;
let nats: NatsServerHandle;
let operator: NatsConnection;
/** Each role's process, its admin URL (probes) and its traffic URL (the shield's port). */
const running = new Map<string, { child: ChildHandle; url: string; trafficUrl: string }>();

/** Runs a `flotilla` command in this process; throws with its stderr unless it exits 0. */
async function flotilla(args: string[]): Promise<void> {
  let stderr = '';
  const code = await runCommand(args[0] as string, args.slice(1), {
    stdout: () => {},
    stderr: (t) => {
      stderr += t;
    },
    env: {},
  });
  if (code !== 0) throw new Error(`flotilla ${args.join(' ')}: ${code} ${stderr}`);
}

/** The README's `flotilla <first>` command line, its relative paths resolved in `scratch`. */
function readmeCommand(text: string, first: string): string[] {
  const line = new RegExp(`^flotilla ${first} (.*?)(?:\\s+#.*)?$`, 'm').exec(text)?.[1];
  if (line === undefined) throw new Error(`deploy/README.md has no \`flotilla ${first}\``);
  return [
    ...first.split(' '),
    ...line.split(/\s+/).map((a) => (a.startsWith('./') ? resolve(scratch, a) : a)),
  ];
}

/**
 * The container's `start` arguments as this machine can run them: Secret
 * mounts and `emptyDir`s in `podDir`, the test's NATS, 127.0.0.1:0.
 */
async function runnableArgs(
  deployment: Doc,
  secrets: Map<string, Map<string, string>>,
  podDir: string,
): Promise<string[]> {
  const spec = deployment.spec.template.spec;
  const container = spec.containers[0];
  const mounts = new Map<string, string>();
  for (const m of container.volumeMounts as Doc[]) {
    // A pod volume, or a StatefulSet's claim (a directory of its own here).
    const volume = ((spec.volumes as Doc[]).find((v) => v.name === m.name) ??
      (deployment.spec.volumeClaimTemplates as Doc[] | undefined)?.find(
        (t) => t.metadata.name === m.name,
      )) as Doc | undefined;
    if (volume === undefined) throw new Error(`${m.name}: no volume or claim of that name`);
    const dir = join(podDir, m.name);
    await mkdir(dir, { recursive: true });
    mounts.set(m.mountPath, dir);
    for (const item of volume.secret?.items ?? []) {
      const file = secrets.get(volume.secret.secretName)?.get(item.key);
      if (file === undefined)
        throw new Error(`no file for ${volume.secret.secretName}/${item.key}`);
      await writeFile(join(dir, item.path), await readFile(file), { mode: 0o600 });
    }
  }
  const args = resolvedArgs(DOCS, container);
  const replaced = args.map((arg, i) => {
    const flag = args[i - 1];
    if (flag === '--nats') return nats.url;
    if (flag === '--host') return '127.0.0.1';
    if (flag === '--port' || flag === '--admin-port') return '0';
    for (const [mountPath, dir] of mounts) {
      if (arg === mountPath || arg.startsWith(`${mountPath}/`)) {
        return dir + arg.slice(mountPath.length);
      }
    }
    if (arg.startsWith('/')) throw new Error(`${arg}: a path no volume of the pod provides`);
    return arg;
  });
  return replaced;
}

/** Starts the workload of `component` (`shield`, `shield-global`, `worker`, …) as its pod would. */
async function startRole(
  component: string,
  secrets: Map<string, Map<string, string>>,
): Promise<void> {
  const role = component;
  const deployment = workloadsOf(DOCS).find((d) => componentOf(d) === component) as Doc;
  const container = deployment.spec.template.spec.containers[0];
  expect(container.command).toEqual(['node']);
  const child = await spawnProcess({
    command: process.execPath,
    args: await runnableArgs(deployment, secrets, join(scratch, 'pods', role)),
    // The image's working directory is the repository (`/app`).
    cwd: ROOT,
    env: { NODE_OPTIONS: '', FLOTILLA_CREDS: undefined, FLOTILLA_SECRETS_KEY: undefined },
    name: `k8s-${role}`,
    readyPattern: /^flotilla \w+ ready: /,
    readyTimeoutMs: 120_000,
  });
  const line = await child.waitForLine(/^flotilla \w+ ready: /, 1000);
  const trafficUrl = / on (http:\/\/\S+)$/.exec(line)?.[1];
  if (trafficUrl === undefined) throw new Error(`no URL in ${line}`);
  // The shield names its admin listener; the other roles serve everything on it.
  const url = / admin (http:\/\/[^\s,)]+)/.exec(line)?.[1] ?? trafficUrl;
  running.set(role, { child, url, trafficUrl });
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-k8s-roles-'));
  const text = await readFile(README, 'utf8');
  const authInit = readmeCommand(text, 'auth init');
  await flotilla(authInit);
  await flotilla(readmeCommand(text, 'secrets-key generate'));
  const authDir = authInit[authInit.indexOf('--dir') + 1] as string;
  nats = await startNatsServer({ jetstream: true, include: join(authDir, 'auth.conf') });
  operator = await connect({
    servers: nats.url,
    ...(await natsSecurityOptions({ credsFile: join(authDir, 'operator.nk') }, true)),
  });
  const secrets = readmeSecrets(scratch);
  // The control service first: it alone creates the control plane's buckets.
  await startRole('control', secrets);
  await Promise.all([startRole('scheduler', secrets), startRole('worker', secrets)]);
  // The global cache tier before the edges that send it their misses.
  await startRole('shield-global', secrets);
  await startRole('shield', secrets);
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([...running.values()].map((r) => r.child.kill()));
  await operator?.close();
  await nats?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

describe('the manifests’ containers, run against a NATS that requires credentials', () => {
  it('starts every role ready on its probes’ port', async () => {
    expect([...running.keys()].sort()).toEqual([
      'control',
      'scheduler',
      'shield',
      'shield-global',
      'worker',
    ]);
    for (const [role, { url }] of running) {
      const health = await httpRequest(url, '/healthz');
      expect(health.status, `${role} ${health.body}`).toBe(200);
      expect((await httpRequest(url, '/livez')).status, role).toBe(200);
    }
  }, 60_000);

  it('renders a page through shield, scheduler and worker', async () => {
    const dir = join(scratch, 'build');
    const cp = new ControlPlane({ store: await JetStreamControlStore.open(operator) });
    await publishBundle(cp, dir, {
      name: 'hello',
      code: `Flotilla.serve(() => new Response('hello from the manifests'));`,
    });
    const shield = running.get('shield')?.trafficUrl as string;
    await waitFor(
      async () =>
        (await httpRequest(shield, '/', { host: 'hello.localhost' })).body ===
        'hello from the manifests',
      { timeoutMs: 60_000, message: 'the shield never served the page' },
    );
  }, 90_000);

  it('sends the edge’s misses to the global tier', async () => {
    const shield = running.get('shield')?.trafficUrl as string;
    // A path of its own (not cached by the test before): rendered through the global member
    // once the edge has heard its heartbeat, and answered as a hit there afterwards.
    let path = 0;
    await waitFor(
      async () => {
        path += 1;
        const r = await httpRequest(shield, `/tier-${path}`, { host: 'hello.localhost' });
        return /^flotilla-global; /.test(String(r.headers['cache-status'] ?? ''));
      },
      { timeoutMs: 60_000, message: 'no miss of the edge went through the global member' },
    );
  }, 90_000);
});
