/**
 * `@flotilla/cli`: the `flotilla` command (app developers' build, publish,
 * promote, purge, … and operators' `start`), as a library for tests and
 * tools that drive it in-process.
 *
 * @module
 */

export {
  type PurgeConnection,
  type PurgeFleetOptions,
  type PurgeFleetResult,
  purgeFleet,
} from '@flotilla/deploy';
export {
  parseStartArgs,
  runStart,
  type StartCommand,
  type StartExtras,
} from './commands/start.ts';
export { START_USAGE } from './commands/usage.ts';
export { type CommandIo, EXIT, runCommand } from './commands.ts';
