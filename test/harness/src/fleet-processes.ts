import { fileURLToPath } from 'node:url';
import { type ChildHandle, spawnProcess } from './process.ts';

const FLEET_BIN = fileURLToPath(new URL('../../../fleet/src/bin.ts', import.meta.url));

/** Node flags of every fleet process (isolated-vm needs `--no-node-snapshot`). */
export const FLEET_NODE_FLAGS = [
  '--no-node-snapshot',
  '--max-semi-space-size=16',
  '--initial-old-space-size=64',
];

/** A fleet role running as its own OS process. */
export interface RoleProcess {
  role: 'shield' | 'scheduler' | 'worker';
  /** The shield's URL, or the admin (`/healthz`, `/metrics`) URL of other roles. */
  url: string;
  /** Everything the process printed after `flotilla … ready:` (its description). */
  description: string;
  child: ChildHandle;
}

/** Options of {@link startRoleProcess}. */
export interface RoleProcessOptions {
  role: 'shield' | 'scheduler' | 'worker';
  /** URL of the nats-server. */
  nats: string;
  /** Local deployment store, already holding the published apps. */
  storeDir: string;
  /** @default 'test' */
  region?: string;
  /** piscina threads of a worker. @default 1 */
  threads?: number;
  /** Extra CLI arguments. */
  args?: string[];
  /** Extra environment. */
  env?: NodeJS.ProcessEnv;
}

/**
 * Starts `flotilla start --nats … --role …` as a separate OS process on free
 * ports and resolves once it printed its ready line.
 */
export async function startRoleProcess(options: RoleProcessOptions): Promise<RoleProcess> {
  const args = [
    ...FLEET_NODE_FLAGS,
    FLEET_BIN,
    'start',
    '--nats',
    options.nats,
    '--role',
    options.role,
    '--region',
    options.region ?? 'test',
    '--port',
    '0',
    '--admin-port',
    '0',
    '--store',
    options.storeDir,
    '--no-examples',
    ...(options.role === 'worker' ? ['--threads', String(options.threads ?? 1)] : []),
    ...(options.args ?? []),
  ];
  const child = await spawnProcess({
    command: process.execPath,
    args,
    name: `flotilla-${options.role}`,
    readyPattern: /^flotilla \w+ ready: /,
    readyTimeoutMs: 30_000,
    ...(options.env ? { env: options.env } : {}),
  });
  const line = await child.waitForLine(/^flotilla \w+ ready: /, 1000);
  const m = / on (http:\/\/\S+)$/.exec(line);
  if (!m?.[1]) throw new Error(`cannot find the URL in the ready line: ${line}`);
  return {
    role: options.role,
    url: m[1],
    description: line.replace(/^flotilla \w+ ready: /, ''),
    child,
  };
}
