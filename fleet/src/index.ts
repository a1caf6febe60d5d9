export { type AdminServer, startAdminServer } from './admin-server.ts';
export { main, parseStartArgs, type StartCommand } from './cli.ts';
export { EXAMPLE_APPS, publishExamples } from './examples.ts';
export {
  connectNats,
  type FleetOptions,
  type Role,
  type RoleOptions,
  type RunningFleet,
  startEmbedded,
  startRole,
} from './fleet.ts';
export { EventLoopWatch, type Liveness } from './liveness.ts';
export { createLogger, type LogLine } from './log.ts';
