/**
 * `@flotilla/fleet`: the process roles (shield, scheduler, worker, and the
 * embedded fleet that runs them all in one process), their admin server and
 * liveness, and the one logger. The `flotilla` CLI (`@flotilla/cli`) starts
 * them.
 *
 * @module
 */
export { startEmbedded, startRole } from './fleet.ts';
export type { EmbeddedSeed, FleetOptions, Role, RunningFleet } from './fleet-options.ts';
export {
  createLogger,
  type LogFn,
  type LogFormat,
  type LogLevel,
  type LogLine,
  logFormat,
  logLevel,
} from './log.ts';
export { LogTail, type LogTailLimits, type LogTailOptions } from './log-tail.ts';
export { connectNats } from './nats-connection.ts';
