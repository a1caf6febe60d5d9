import { FlotillaError } from '@flotilla/protocol';

/** Node flags every process hosting isolates runs with. */
export const ISOLATE_HOST_FLAGS = [
  '--no-node-snapshot',
  '--max-semi-space-size=16',
  '--initial-old-space-size=64',
] as const;

function flagsInEffect(): string[] {
  return [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
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
  const how = `start it as: node ${ISOLATE_HOST_FLAGS.join(' ')} <script> (the flotilla CLI and package scripts do this for you)`;
  if (major !== 24) {
    throw new FlotillaError(
      'FLOTILLA_ERR_PROCESS_FLAGS',
      `this process hosts isolated-vm isolates and needs Node 24 LTS, but runs Node ${process.versions.node}; use node_modules/.bin/node after install`,
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
