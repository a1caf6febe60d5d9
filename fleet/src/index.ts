export { parseStartArgs, runStart, START_USAGE, type StartExtras } from './commands/start.ts';
export {
  connectNats,
  type EmbeddedSeed,
  type FleetOptions,
  type RunningFleet,
  startEmbedded,
} from './fleet.ts';
export { type PurgeFleetOptions, purgeFleet } from './purge-client.ts';
