/**
 * A user's shell outside the workspace, for the tarball test: the machine's
 * own Node (the first `node` on `PATH` outside this repository) or this
 * Node 24 first on `PATH`, plain `npm`/`npx`, and an environment without
 * the workspace's tool paths or pnpm's `npm_*` variables.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, isAbsolute, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: nothing of the user's shell may point into it. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** True when `path` is inside the repository. */
export function inRepo(path: string): boolean {
  return `${path}${sep}`.startsWith(REPO_ROOT);
}

/** `PATH` without the repository's entries (`./run` and pnpm put its Node 24 and tools first). */
function outsidePath(): string[] {
  // A relative entry (pnpm may add `node_modules/.bin`) is the repository's, seen from here.
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '' && isAbsolute(dir) && !inRepo(dir));
}

/** The machine's own `node`: the first on `PATH` outside the repository. */
export function systemNode(): string {
  for (const dir of outsidePath()) {
    const node = join(dir, 'node');
    try {
      accessSync(node, constants.X_OK);
      return node;
    } catch {
      // not here
    }
  }
  throw new Error('no node on PATH outside the repository: install Node 20 or later');
}

/** Which Node comes first on the user's `PATH`. */
export type UserNode = 'system' | 'node24';

/** The environment of the user's shell with `node` first on `PATH`. */
export function userEnv(node: UserNode): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    // pnpm's npm_config_* and npm_package_* would steer the user's npm.
    // NODE_PATH: pnpm's bin shims point it into the workspace's packages.
    if (/^(npm_|pnpm_)/i.test(key) || /^(NODE_OPTIONS|NODE_PATH|INIT_CWD)$/.test(key)) continue;
    if (/^(FLOTILLA_|VITEST)/.test(key) || key === 'TEST' || key === 'NODE_ENV') continue;
    env[key] = value;
  }
  const first = node === 'system' ? dirname(systemNode()) : dirname(process.execPath);
  env.PATH = [first, ...outsidePath()].join(delimiter);
  env.npm_config_update_notifier = 'false';
  env.npm_config_fund = 'false';
  env.npm_config_audit = 'false';
  return env;
}

/** How a command of the user's shell ended. */
export interface ShellResult {
  /** Exit code; `null` when it was killed (at the timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command args` in `cwd` with the user's environment (`node` first on
 * `PATH`) to completion, or SIGKILLs it after `timeoutMs`.
 */
export function userRun(
  command: string,
  args: readonly string[],
  options: { cwd: string; node: UserNode; timeoutMs: number },
): Promise<ShellResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: options.cwd,
        env: userEnv(options.node),
        timeout: options.timeoutMs,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** `result`'s output, for assertion messages. */
export function shown(what: string, result: ShellResult): string {
  return `${what} exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
