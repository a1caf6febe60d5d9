export type { Actuator, ScrapeTarget } from './actuator.ts';
export { Autoscaler, type AutoscalerOptions } from './autoscaler.ts';
export type { KpaOptions } from './kpa.ts';
export { KubernetesActuator, type KubernetesActuatorOptions } from './kubernetes-actuator.ts';
export {
  autoscalerLeaseKey,
  DEFAULT_LEASE_BUCKET,
  LeaderLease,
  type LeaderLeaseOptions,
  type LeaseLossReason,
  type LeaseRecord,
  openLeaseBucket,
} from './lease.ts';
export { LocalSupervisor, type LocalSupervisorOptions } from './local-supervisor.ts';
export {
  type FleetWorkerCommandOptions,
  fleetWorkerCommand,
  type ProcessLauncherOptions,
  processLauncher,
} from './worker-launcher.ts';
