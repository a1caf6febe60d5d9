export {
  type BundlePublisher,
  isolateBundleOf,
  publishBundle,
  type TestBundle,
} from './bundles.ts';
export {
  type Fleet,
  type FleetFixtures,
  type FleetOptions,
  type FleetPublisher,
  findBusy,
  type RoleOverrides,
  type SchedulerHealth,
  schedulerHealth,
  startFleet,
  type WorkerHealth,
  workerHealth,
} from './fleet.ts';
export {
  type CliResult,
  FLEET_BIN,
  FLEET_NODE_FLAGS,
  type FleetRole,
  type RoleProcess,
  type RoleProcessOptions,
  type RunCliOptions,
  runCli,
  startRoleProcess,
} from './fleet-processes.ts';
export { freePort } from './free-port.ts';
export {
  type HttpGetOptions,
  type HttpGetResult,
  type HttpReply,
  type HttpRequestOptions,
  httpGet,
  httpRequest,
  type ListeningServer,
  listen,
} from './http.ts';
export { type MetricSample, type MetricSource, metricSamples, metricValue } from './metrics.ts';
export {
  type NatsServerHandle,
  type NatsServerOptions,
  type NatsStopOptions,
  startNatsServer,
} from './nats-server.ts';
export {
  type ChildHandle,
  type ProcessExit,
  type SpawnProcessOptions,
  spawnProcess,
} from './process.ts';
export { type WaitForOptions, waitFor } from './wait-for.ts';
