/**
 * Several "hosts" on one machine: a network namespace each (`ip netns`),
 * joined by veth pairs to a bridge in this process's namespace, so every
 * host reaches the others and the test reaches every host at its own
 * address, while each host's loopback stays its own. Needs root (`ip`).
 * {@link createTopology} removes the namespaces and the bridge on
 * {@link NetnsTopology.destroy}, and also when the test process exits or is
 * stopped, even after a failure.
 *
 * @module
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { type ChildHandle, type SpawnProcessOptions, spawnProcess } from './process.ts';

const run = promisify(execFile);

/** One host of a {@link NetnsTopology}. */
export interface NetnsHost {
  /** `h1`, `h2`, … */
  readonly name: string;
  /** Its network namespace (`ip netns`). */
  readonly namespace: string;
  /** Its address on the shared link (IPv4). */
  readonly ip: string;
  /** The veth end in the test's namespace: taking it down cuts the host off. */
  readonly link: string;
}

/** Options of {@link createTopology}. */
export interface TopologyOptions {
  /** How many hosts. @default 3 */
  hosts?: number;
}

/** The hosts, and how to run processes on them, cut them off and remove them. */
export interface NetnsTopology {
  readonly hosts: readonly NetnsHost[];
  /** The test's own address on the shared link (the bridge's): every host reaches it. */
  readonly gateway: string;
  /**
   * Adds one more address of the test's on the shared link and resolves
   * with it (e.g. for a proxy that must answer on the same port as a
   * server on {@link gateway}).
   */
  addGatewayAddress(): Promise<string>;
  /**
   * The names `host` resolves (its `/etc/hosts`, from
   * `/etc/netns/<namespace>/hosts`, which `ip netns exec` mounts): for
   * processes started after the call.
   */
  setHosts(host: NetnsHost, names: Record<string, string>): void;
  /** Starts `options.command` inside `host`'s namespace (`ip netns exec`, same PID). */
  spawn(host: NetnsHost, options: SpawnProcessOptions): Promise<ChildHandle>;
  /** Takes the host's link down (`up = false`) or up again. */
  setLink(host: NetnsHost, up: boolean): Promise<void>;
  /** Removes the namespaces and the bridge (processes left in them should be stopped first). */
  destroy(): Promise<void>;
}

const PREFIX = 'flt';
const live = new Set<() => void>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanAll = (): void => {
    for (const clean of live) clean();
    live.clear();
  };
  process.on('exit', cleanAll);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanAll();
      process.kill(process.pid, signal);
    });
  }
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

/** Names of this test process's leftovers of an earlier run whose process is gone. */
async function removeStale(): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list']);
  for (const m of stdout.matchAll(new RegExp(`^(${PREFIX}(\\d+)h\\d+)`, 'gm'))) {
    const pid = Number(m[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (!alive) await run('ip', ['netns', 'del', m[1] as string]).catch(() => {});
  }
  const links = await run('ip', ['-o', 'link', 'show']);
  for (const m of links.stdout.matchAll(new RegExp(`^\\d+: (${PREFIX}(\\d+)br)[:@]`, 'gm'))) {
    let alive = true;
    try {
      process.kill(Number(m[2]), 0);
    } catch {
      alive = false;
    }
    if (!alive) await run('ip', ['link', 'del', m[1] as string]).catch(() => {});
  }
}

/**
 * Creates `options.hosts` namespaces `flt<pid>h<n>` with addresses
 * `10.<a>.<b>.<n>/24` (from this process id, so concurrent runs do not
 * collide) on a bridge `flt<pid>br` holding `10.<a>.<b>.254`.
 */
export async function createTopology(options: TopologyOptions = {}): Promise<NetnsTopology> {
  const count = options.hosts ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > 200) {
    throw new RangeError(`hosts must be an integer in 1..200, got ${count}`);
  }
  if (process.getuid?.() !== 0) throw new Error('createTopology needs root (ip netns)');
  try {
    await run('ip', ['-V']);
  } catch (err) {
    throw new Error(
      `ip not found (${(err as Error).message}): install Debian's iproute2 (apt-get install -y iproute2, as .ci/run does)`,
    );
  }
  installExitHook();
  await removeStale();
  const id = `${PREFIX}${process.pid}`;
  const subnet = `10.${100 + ((process.pid >> 8) % 100)}.${process.pid % 256}`;
  const bridge = `${id}br`;
  const hosts: NetnsHost[] = [];
  const cleanSync = (): void => {
    for (const h of hosts) {
      rmSync(`/etc/netns/${h.namespace}`, { recursive: true, force: true });
      try {
        execFileSync('ip', ['netns', 'del', h.namespace], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    try {
      execFileSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
    } catch {
      // already gone
    }
  };
  live.add(cleanSync);
  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('addr', 'add', `${subnet}.254/24`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    for (let n = 1; n <= count; n++) {
      const host: NetnsHost = {
        name: `h${n}`,
        namespace: `${id}h${n}`,
        ip: `${subnet}.${n}`,
        link: `${id}v${n}`,
      };
      hosts.push(host);
      await ip('netns', 'add', host.namespace);
      await ip(
        'link',
        'add',
        host.link,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        host.namespace,
      );
      await ip('link', 'set', host.link, 'master', bridge);
      await ip('link', 'set', host.link, 'up');
      await ip('-n', host.namespace, 'link', 'set', 'lo', 'up');
      await ip('-n', host.namespace, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0');
      await ip('-n', host.namespace, 'link', 'set', 'eth0', 'up');
    }
  } catch (err) {
    cleanSync();
    live.delete(cleanSync);
    throw err;
  }
  let extra = 253;
  return {
    hosts,
    gateway: `${subnet}.254`,
    async addGatewayAddress() {
      const address = `${subnet}.${extra--}`;
      await ip('addr', 'add', `${address}/24`, 'dev', bridge);
      return address;
    },
    setHosts(host, names) {
      const dir = `/etc/netns/${host.namespace}`;
      mkdirSync(dir, { recursive: true });
      const lines = ['127.0.0.1 localhost', ...Object.entries(names).map(([n, a]) => `${a} ${n}`)];
      writeFileSync(`${dir}/hosts`, `${lines.join('\n')}\n`);
    },
    spawn: (host, o) =>
      spawnProcess({
        ...o,
        command: 'ip',
        args: ['netns', 'exec', host.namespace, o.command, ...o.args],
        name: o.name ?? `${host.name}:${o.command}`,
      }),
    setLink: (host, up) => ip('link', 'set', host.link, up ? 'up' : 'down'),
    destroy: async () => {
      cleanSync();
      live.delete(cleanSync);
    },
  };
}
