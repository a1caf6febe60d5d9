import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ISOLATE_HOST_FLAGS } from '@flotilla/runtime';
import { trackChild } from './child-reaper.ts';
import { type ChildHandle, spawnProcess } from './process.ts';

/** Path of the `flotilla` CLI script (`cli/src/bin.ts`), run with {@link FLEET_NODE_FLAGS}. */
export const FLEET_BIN = fileURLToPath(new URL('../../../cli/src/bin.ts', import.meta.url));

/** Node flags of every fleet process: the isolate hosts' (isolated-vm needs `--no-node-snapshot`). */
export const FLEET_NODE_FLAGS: readonly string[] = ISOLATE_HOST_FLAGS;

/** The roles `flotilla start --role` runs. */
export type FleetRole = 'shield' | 'scheduler' | 'worker' | 'control';

/** A fleet role running as its own OS process. */
export interface RoleProcess {
  role: FleetRole;
  /** The shield's URL, or the admin (`/healthz`, `/metrics`) URL of other roles. */
  url: string;
  /** The admin URL (`/healthz`, `/livez`, `/metrics`; the shield's index): scrape metrics here. */
  adminUrl: string;
  /** Everything the process printed after `flotilla … ready:` (its description). */
  description: string;
  child: ChildHandle;
}

/** Options of {@link startRoleProcess}. */
export interface RoleProcessOptions {
  role: FleetRole;
  /** URL of the nats-server. */
  nats: string;
  /** Local deployment store, already holding the published apps. */
  storeDir: string;
  /** @default 'test' */
  region?: string;
  /** piscina threads of a worker. @default 1 */
  threads?: number;
  /** The NKey seed file it connects with (`--creds`). @default none */
  creds?: string;
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
    ...(options.creds !== undefined ? ['--creds', options.creds] : []),
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
  // The shield names its admin listener in its description; other roles serve on it.
  const admin = / admin (http:\/\/[^\s,)]+)/.exec(line);
  return {
    role: options.role,
    url: m[1],
    adminUrl: admin?.[1] ?? m[1],
    description: line.replace(/^flotilla \w+ ready: /, ''),
    child,
  };
}

/** How a CLI run by {@link runCli} ended. */
export interface CliResult {
  /** Exit code; `null` when it was killed (at the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Extra environment, over `process.env` (`NODE_OPTIONS` is emptied). */
  env?: NodeJS.ProcessEnv;
  /** Node flags before the script. @default FLEET_NODE_FLAGS */
  nodeFlags?: readonly string[];
  /** SIGKILL the CLI after this long. @default 45000 */
  timeoutMs?: number;
  /** Written to the CLI's stdin, which is then closed. @default none (stdin ignored) */
  input?: string;
}

/** Runs `flotilla <args>` as its own process to completion; resolves with its exit code and output. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [...(options.nodeFlags ?? FLEET_NODE_FLAGS), FLEET_BIN, ...args],
      {
        stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: { ...process.env, NODE_OPTIONS: '', ...options.env },
      },
    );
    trackChild(child);
    if (options.input !== undefined) child.stdin?.end(options.input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 45_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
