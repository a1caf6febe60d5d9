import { createRequire } from 'node:module';
import { FlotillaError } from '@flotilla/protocol';

/**
 * The Node major version that hosts isolates: isolated-vm 7 is built for it
 * only. Everything else (build, publish, the control commands) runs on
 * Node 20 or later.
 */
export const ISOLATE_HOST_NODE_MAJOR = 24;

/**
 * Node flags every process hosting isolates runs with: the one list that the
 * `flotilla` bin, the local supervisor's worker command, the test runner and
 * the benches use (the Kubernetes manifests spell it out; a test checks they
 * agree).
 */
export const ISOLATE_HOST_FLAGS = [
  '--no-node-snapshot',
  '--max-semi-space-size=16',
  '--initial-old-space-size=64',
] as const;

function flagsInEffect(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
}

/** The flags of {@link ISOLATE_HOST_FLAGS} this process was not started with (by name: a value the user chose stays). */
function missingIsolateHostFlags(): string[] {
  const flags = flagsInEffect();
  return ISOLATE_HOST_FLAGS.filter((flag) => {
    const name = flag.split('=')[0] as string;
    return !flags.some((f) => f === name || f.startsWith(`${name}=`));
  });
}

/** Set (to the PID) across a re-exec, so that a process never re-executes itself twice. */
const REEXEC_ENV = 'FLOTILLA_REEXEC_PID';

/**
 * Gives this process the {@link ISOLATE_HOST_FLAGS} it lacks: when any is
 * missing, replaces the process image with the same Node, the missing flags,
 * and the same script and arguments (`process.execve`). The PID, the open
 * file descriptors and so a supervisor's pipes and signals stay the same,
 * so SIGTERM still drains. Call it first thing in an entry point that hosts
 * isolates, before any thread starts. Returns without doing anything when
 * nothing is missing, or where `process.execve` does not exist (then
 * {@link assertIsolateHostProcess} refuses with the command to use).
 */
export function execWithIsolateHostFlags(): void {
  const missing = missingIsolateHostFlags();
  if (missing.length === 0 || typeof process.execve !== 'function') return;
  if (process.env[REEXEC_ENV] === String(process.pid)) return;
  process.execve(
    process.execPath,
    [process.execPath, ...missing, ...process.execArgv, ...process.argv.slice(1)],
    { ...process.env, [REEXEC_ENV]: String(process.pid) },
  );
}

/**
 * Refuses to go on unless this process runs Node 24 with `--no-node-snapshot`
 * (isolated-vm needs it: worker threads inherit it; it cannot be a piscina
 * `execArgv`). Returns warnings for flags that only affect speed
 * (`--max-semi-space-size`: without it isolate renders run about 2× slower;
 * `--initial-old-space-size=64`: without it the hosting process, with its
 * large semi-spaces, keeps marking its old generation and the p99 of a
 * render triples).
 *
 * @throws FlotillaError `FLOTILLA_ERR_PROCESS_FLAGS` with the command to use.
 */
export function assertIsolateHostProcess(): string[] {
  const major = Number(process.versions.node.split('.')[0]);
  const how = `start it as: node ${ISOLATE_HOST_FLAGS.join(' ')} <script> (the flotilla CLI adds them itself)`;
  if (major !== ISOLATE_HOST_NODE_MAJOR) {
    throw new FlotillaError(
      'FLOTILLA_ERR_PROCESS_FLAGS',
      `this process hosts isolated-vm isolates and needs Node ${ISOLATE_HOST_NODE_MAJOR} LTS, but runs Node ${process.versions.node} (e.g. npx -y -p node@${ISOLATE_HOST_NODE_MAJOR} -- <command>)`,
    );
  }
  const flags = flagsInEffect();
  if (!flags.includes('--no-node-snapshot')) {
    throw new FlotillaError(
      'FLOTILLA_ERR_PROCESS_FLAGS',
      `this process hosts isolated-vm isolates and must run with --no-node-snapshot; ${how}`,
    );
  }
  const warnings: string[] = [];
  if (!flags.some((f) => f.startsWith('--max-semi-space-size'))) {
    warnings.push(
      `--max-semi-space-size is not set: isolate renders will be slower (young-generation GC); ${how}`,
    );
  }
  if (!flags.some((f) => f.startsWith('--initial-old-space-size'))) {
    warnings.push(
      `--initial-old-space-size is not set: the process will run near-constant old-generation GC under load, which slows renders; ${how}`,
    );
  }
  return warnings;
}

/**
 * The packages hosting isolates needs that are not installed: this
 * package's `optionalDependencies` (isolated-vm and the guest's URL library),
 * which install only on Node 24: npm leaves them out (and removes them)
 * whenever it runs on an older Node. `npm install` with Node 24 adds them.
 */
export function missingIsolateHostPackages(): string[] {
  // `../package.json` from src/ and from dist/ alike.
  const own = createRequire(import.meta.url)('../package.json') as {
    optionalDependencies?: Record<string, string>;
  };
  return Object.keys(own.optionalDependencies ?? {}).filter((name) => {
    try {
      // Resolved as the runtime imports it (ESM: no NODE_PATH, no global folders).
      import.meta.resolve(name);
      return false;
    } catch (err) {
      return (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND';
    }
  });
}
