/**
 * The image, built from the repository's Containerfile as CI builds it
 * (`container-image.ts`: no registry, a locally imported Node 24 base) and
 * run with podman: a shield, a scheduler and a worker, each its own
 * container of the one image (`--init`, the host's network, a read-only
 * root filesystem), serve a page
 * against a nats-server on this machine, as the non-root user; SIGTERM to
 * the three containers while renders are in flight drains them: every
 * request in flight is answered and every container exits 0.
 */
import { chown, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ISOLATE_HOST_FLAGS } from '@flotilla/runtime';
import {
  type ChildHandle,
  httpRequest,
  metricValue,
  type NatsServerHandle,
  publishBundle,
  spawnProcess,
  startNatsServer,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { baseDocuments, componentOf, workloadsOf } from '../deploy/k8s-documents.ts';
import { openControlPlane, type TestControlPlane } from '../support/control-plane.ts';
import {
  buildImage,
  ensurePodmanConfig,
  imageVersion,
  importNodeBase,
  podman,
  ROOT,
} from './container-image.ts';

const ROLES = ['scheduler', 'worker', 'shield'] as const;
type Role = (typeof ROLES)[number];

/** Every page takes 3 s: SIGTERM lands with renders in flight. */
const SLOW = `Flotilla.serve(async (req) => {
  await new Promise((r) => setTimeout(r, 3000));
  return new Response('slow ' + new URL(req.url).pathname);
});`;

let image: string;
let scratch: string;
let nats: NatsServerHandle;
let control: TestControlPlane;
const containers = new Map<
  Role,
  { name: string; child: ChildHandle; url: string; admin: string }
>();

async function startContainer(role: Role): Promise<void> {
  const name = `flotilla-test-${process.pid}-${role}`;
  const store = join(scratch, `${role}-store`);
  await mkdir(store);
  await chown(store, 1000, 1000);
  const child = await spawnProcess({
    command: 'podman',
    args: [
      'run',
      '--rm',
      '--init',
      '--network',
      'host',
      // As the manifests run it: a read-only root, /tmp (podman's default
      // with --read-only) and the store (an emptyDir there) writable.
      '--read-only',
      '--volume',
      `${store}:/var/lib/flotilla/store`,
      '--name',
      name,
      // A bound on a container this suite could leave behind.
      '--timeout',
      '900',
      image,
      '--role',
      role,
      '--nats',
      nats.url,
      '--region',
      'image-test',
      '--port',
      '0',
      '--admin-port',
      '0',
    ],
    name: `image-${role}`,
    readyPattern: /^flotilla \w+ ready: /,
    readyTimeoutMs: 120_000,
  });
  const line = await child.waitForLine(/^flotilla \w+ ready: /, 1000);
  const url = / on (http:\/\/\S+)$/.exec(line)?.[1];
  if (url === undefined) throw new Error(`no URL in ${line}`);
  const admin = / admin (http:\/\/[^\s,)]+)/.exec(line)?.[1] ?? url;
  containers.set(role, { name, child, url, admin });
}

function running(role: Role): { name: string; child: ChildHandle; url: string; admin: string } {
  const c = containers.get(role);
  if (c === undefined) throw new Error(`no ${role} container`);
  return c;
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-image-'));
  await ensurePodmanConfig(scratch);
  image = await buildImage(await importNodeBase());
  nats = await startNatsServer({ jetstream: true });
  control = await openControlPlane(nats.url);
  await publishBundle(control.controlPlane, scratch, {
    name: 'hello',
    code: `Flotilla.serve(() => new Response('hello from the image'));`,
  });
  await publishBundle(control.controlPlane, scratch, { name: 'slow', code: SLOW });
  for (const role of ROLES) await startContainer(role);
}, 900_000);

afterAll(async () => {
  const names = [...containers.values()].map((c) => c.name);
  if (names.length > 0) await podman(['rm', '--force', '--ignore', ...names]).catch(() => {});
  await Promise.allSettled([...containers.values()].map((c) => c.child.kill('SIGKILL')));
  await control?.close();
  await nats?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}, 60_000);

describe('the container image', () => {
  it('is the image the Kubernetes manifests name (kustomization.yaml)', async () => {
    const kustomization = parseYaml(
      await readFile(join(ROOT, 'deploy', 'kubernetes', 'kustomization.yaml'), 'utf8'),
    );
    const entry = kustomization.images.find((i: { name: string }) => i.name === 'flotilla');
    expect(entry?.newTag).toBe(await imageVersion());
    expect(image).toBe(`localhost/flotilla:${entry?.newTag}`);
  });

  it('has what every workload of the manifests runs: the command, the script in workingDir, the user', async () => {
    const config = JSON.parse(
      await podman(['image', 'inspect', '--format', '{{json .Config}}', image]),
    );
    for (const deployment of workloadsOf(baseDocuments())) {
      const pod = deployment.spec.template.spec;
      const container = pod.containers[0];
      const role = componentOf(deployment);
      expect(container.workingDir, role).toBe(config.WorkingDir);
      expect(`${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`, role).toBe(
        config.User,
      );
      const script = (container.args as string[]).find((a) => a.endsWith('.ts'));
      // The manifests' command and script, started in the image as the pod would start them.
      const out = await podman([
        'run',
        '--rm',
        '--entrypoint',
        container.command[0],
        image,
        ...ISOLATE_HOST_FLAGS,
        script as string,
        '--version',
      ]);
      expect(out.trim(), role).toBe(await imageVersion());
    }
  }, 120_000);

  it('runs every role as the non-root node user, under an init process', async () => {
    for (const role of ROLES) {
      const { name, admin } = running(role);
      const uid = await podman([
        'exec',
        name,
        'node',
        '-p',
        'process.getuid() + ":" + process.getgid()',
      ]);
      expect(uid.trim(), role).toBe('1000:1000');
      // PID 1 is the init (catatonit), flotilla its child: SIGTERM reaches the drain.
      const comm = await podman([
        'exec',
        name,
        'node',
        '-p',
        'require("fs").readFileSync("/proc/1/comm", "utf8")',
      ]);
      expect(comm.trim(), role).not.toBe('node');
      expect((await httpRequest(admin, '/healthz')).status, role).toBe(200);
      expect((await httpRequest(admin, '/livez')).status, role).toBe(200);
    }
  }, 60_000);

  it('serves a page through the shield, scheduler and worker containers', async () => {
    const shield = running('shield').url;
    await waitFor(
      async () =>
        (await httpRequest(shield, '/', { host: 'hello.localhost' })).body ===
        'hello from the image',
      { timeoutMs: 60_000, message: 'the shield container never served the page' },
    );
  }, 90_000);

  it('drains on SIGTERM: requests in flight are answered, every container exits 0', async () => {
    const shield = running('shield').url;
    const worker = running('worker').admin;
    const pending = [1, 2, 3].map((i) => httpRequest(shield, `/slow/${i}`));
    // Every render is running in the worker container before SIGTERM.
    await waitFor(async () => (await metricValue(worker, 'flotilla_worker_in_flight')) === 3, {
      timeoutMs: 30_000,
      message: 'the renders never reached the worker',
    });
    // `podman stop` sends SIGTERM to the container's init, which passes it on.
    await Promise.all(ROLES.map((role) => podman(['stop', '--time', '30', running(role).name])));
    const answers = await Promise.all(pending);
    expect(answers.map((a) => `${a.status} ${a.body}`)).toEqual([
      '200 slow /1',
      '200 slow /2',
      '200 slow /3',
    ]);
    for (const role of ROLES) {
      const exit = await running(role).child.exited;
      expect(exit, `${role}: ${running(role).child.output()}`).toEqual({ code: 0, signal: null });
      expect(running(role).child.output(), role).toMatch(/draining/);
    }
  }, 120_000);
});
