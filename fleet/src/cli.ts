/**
 * The `flotilla` CLI: finds the command in the table (`commands.ts`) and
 * runs it.
 *
 * @module
 */
import { execWithIsolateHostFlags } from '@flotilla/runtime/process-flags';
import { START_USAGE } from './commands/start.ts';
import { COMMANDS, COMMANDS_USAGE } from './commands.ts';

export { parseStartArgs, type StartCommand } from './commands/start.ts';

/**
 * Runs the `flotilla` CLI. Resolves with the exit code once the process
 * should exit (after draining on SIGTERM / SIGINT). A command that hosts
 * isolates first gives the process the isolate-host Node flags it lacks
 * (re-executing it, same PID).
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${START_USAGE}\n${COMMANDS_USAGE}`);
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    process.stderr.write(
      `flotilla: unknown command "${name}"\n\n${START_USAGE}\n${COMMANDS_USAGE}`,
    );
    return 2;
  }
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(command.help);
    return 0;
  }
  if (command.hostsIsolates) execWithIsolateHostFlags();
  return command.run(rest, {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
  });
}
