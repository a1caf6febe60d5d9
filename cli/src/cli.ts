/**
 * The `flotilla` CLI: `start` and `dev` (which host isolates), and the app
 * developer's commands of the table in `commands.ts`. Each is loaded only
 * when it runs, so a worker process never loads the build toolchain.
 *
 * @module
 */
import { execWithIsolateHostFlags } from '@flotilla/runtime/process-flags';
import type { CommandIo } from './commands/context.ts';

export { parseStartArgs, type StartCommand } from './commands/start.ts';

/** A command as the CLI runs it. */
interface Runnable {
  /** What `flotilla <name> --help` prints. */
  help: string;
  run(args: string[], io: CommandIo): Promise<number>;
}

/** One entry of the CLI's table. */
interface CliCommand {
  /**
   * It runs isolates in this process: the CLI gives the process the
   * isolate-host Node flags before running it.
   */
  hostsIsolates: boolean;
  /** Loads the command; `undefined` when there is no such command. */
  load(): Promise<Runnable | undefined>;
}

/** The app developer's command `name`, from the table in `commands.ts`. */
async function controlCommand(name: string): Promise<Runnable | undefined> {
  const table = await import('./commands.ts');
  if (!table.CONTROL_COMMANDS.includes(name)) return undefined;
  return { help: table.COMMANDS_USAGE, run: (args, io) => table.runCommand(name, args, io) };
}

/** The command called `name`. */
function commandNamed(name: string): CliCommand {
  switch (name) {
    case 'start':
      return {
        hostsIsolates: true,
        load: async () => {
          const m = await import('./commands/start.ts');
          return { help: m.START_USAGE, run: (args, io) => m.runStart(args, io) };
        },
      };
    case 'dev':
      return {
        hostsIsolates: true,
        load: async () => {
          const m = await import('./commands/dev.ts');
          return { help: m.DEV_USAGE, run: m.runDev };
        },
      };
    default:
      return { hostsIsolates: false, load: () => controlCommand(name) };
  }
}

/** `flotilla --help`: `start`, then the app developer's commands. */
async function usage(): Promise<string> {
  const [start, table] = await Promise.all([
    import('./commands/start.ts'),
    import('./commands.ts'),
  ]);
  return `${start.START_USAGE}\n${table.COMMANDS_USAGE}`;
}

/**
 * Runs the `flotilla` CLI. Resolves with the exit code once the process
 * should exit (after draining on SIGTERM / SIGINT). A command that hosts
 * isolates first gives the process the isolate-host Node flags it lacks
 * (re-executing it, same PID).
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(await usage());
    return name === undefined ? 1 : 0;
  }
  const command = commandNamed(name);
  const runnable = await command.load();
  if (runnable === undefined) {
    process.stderr.write(`flotilla: unknown command "${name}"\n\n${await usage()}`);
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(runnable.help);
    return 0;
  }
  if (command.hostsIsolates) execWithIsolateHostFlags();
  return runnable.run(rest, {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
  });
}
