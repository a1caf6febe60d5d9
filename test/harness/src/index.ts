export {
  FLEET_NODE_FLAGS,
  type RoleProcess,
  type RoleProcessOptions,
  startRoleProcess,
} from './fleet-processes.ts';
export { freePort } from './free-port.ts';
export {
  type HttpGetOptions,
  type HttpGetResult,
  httpGet,
  type ListeningServer,
  listen,
} from './http.ts';
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
