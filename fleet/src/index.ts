export {
  parseStartArgs,
  runStart,
  START_USAGE,
  type StartCommand,
  type StartExtras,
} from './commands/start.ts';
export { type CommandIo, EXIT, runCommand } from './commands.ts';
export {
  connectNats,
  type EmbeddedSeed,
  type FleetOptions,
  type RunningFleet,
  startEmbedded,
} from './fleet.ts';
export type { LogFn, LogLine } from './log.ts';
export {
  type PurgeConnection,
  type PurgeFailure,
  type PurgeFleetOptions,
  type PurgeFleetResult,
  purgeFleet,
} from './purge-client.ts';
