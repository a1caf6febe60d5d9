/**
 * One nats-server per host of a {@link NetnsTopology}, joined in one cluster
 * (routes to every other host), JetStream on: what an operator runs across
 * three machines. Each server listens on its host's address (client 4222,
 * cluster 6222, monitoring 8222) and keeps its JetStream store across
 * {@link NatsClusterNode.kill} and {@link NatsClusterNode.start}, so a
 * restarted node rejoins with its data.
 *
 * @module
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackTempDir, untrackTempDir } from './child-reaper.ts';
import type { NetnsHost, NetnsTopology } from './netns.ts';
import type { ChildHandle } from './process.ts';

/** One server of a {@link NatsCluster}. */
export interface NatsClusterNode {
  readonly host: NetnsHost;
  /** `nats://<host ip>:4222`. */
  readonly url: string;
  /** `http://<host ip>:8222` (`/routez`, `/jsz`). */
  readonly monitorUrl: string;
  /** True while its process runs. */
  readonly running: boolean;
  /** Starts it (again, on the same store); resolves once it is ready for clients. */
  start(): Promise<void>;
  /** Stops it with `signal` (default SIGKILL: a host lost) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** The servers; {@link NatsCluster.stop} ends them and removes their stores. */
export interface NatsCluster {
  readonly nodes: readonly NatsClusterNode[];
  /** Every client URL, for a client that should fail over between servers. */
  readonly urls: string[];
  stop(): Promise<void>;
}

const CLIENT_PORT = 4222;
const CLUSTER_PORT = 6222;
const MONITOR_PORT = 8222;

function config(host: NetnsHost, all: readonly NetnsHost[], storeDir: string): string {
  const routes = all
    .filter((h) => h !== host)
    .map((h) => `    "nats-route://${h.ip}:${CLUSTER_PORT}"`)
    .join('\n');
  return `server_name: "${host.name}"
listen: "${host.ip}:${CLIENT_PORT}"
http: "${host.ip}:${MONITOR_PORT}"
jetstream {
  store_dir: "${storeDir}"
  max_memory_store: 64MB
  max_file_store: 1GB
}
cluster {
  name: "flotilla-test"
  listen: "${host.ip}:${CLUSTER_PORT}"
  routes: [
${routes}
  ]
}
`;
}

/**
 * Starts a nats-server on every host of `topology` (`/usr/sbin/nats-server`
 * or `$NATS_SERVER_BIN`), all at once (a JetStream cluster forms only once
 * a majority is up), and resolves once each is ready for clients.
 */
export async function startNatsCluster(topology: NetnsTopology): Promise<NatsCluster> {
  const binary = process.env.NATS_SERVER_BIN || '/usr/sbin/nats-server';
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-nats-cluster-'));
  trackTempDir(dir);
  const nodes = await Promise.all(
    topology.hosts.map(async (host) => {
      const storeDir = join(dir, host.name, 'jetstream');
      await mkdir(storeDir, { recursive: true });
      const file = join(dir, host.name, 'nats.conf');
      await writeFile(file, config(host, topology.hosts, storeDir));
      let child: ChildHandle | undefined;
      const node: NatsClusterNode = {
        host,
        url: `nats://${host.ip}:${CLIENT_PORT}`,
        monitorUrl: `http://${host.ip}:${MONITOR_PORT}`,
        get running() {
          return child !== undefined && child.exitStatus === undefined;
        },
        async start() {
          if (node.running) return;
          child = await topology.spawn(host, {
            command: binary,
            args: ['-c', file],
            name: `nats-${host.name}`,
            readyPattern: /Server is ready/,
            readyTimeoutMs: 60_000,
          });
        },
        async kill(signal = 'SIGKILL') {
          await child?.kill(signal);
        },
      };
      return node;
    }),
  );
  await Promise.all(nodes.map((n) => n.start()));
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    async stop() {
      await Promise.allSettled(nodes.map((n) => n.kill('SIGTERM')));
      await rm(dir, { recursive: true, force: true });
      untrackTempDir(dir);
    },
  };
}
