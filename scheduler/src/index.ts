export type { Actuator } from './autoscaler/actuator.ts';
export {
  Autoscaler,
  type AutoscalerOptions,
  type AutoscalerStatus,
} from './autoscaler/autoscaler.ts';
export { type AutoscalerMetrics, autoscalerMetrics } from './autoscaler/autoscaler-metrics.ts';
export {
  initialKpaState,
  type KpaConfig,
  KpaDecider,
  type KpaDecision,
  type KpaObservation,
  type KpaOptions,
  type KpaState,
  kpaStep,
  resolveKpaConfig,
  targetPerWorker,
  windowAverage,
} from './autoscaler/kpa.ts';
export {
  KubernetesActuator,
  type KubernetesActuatorOptions,
} from './autoscaler/kubernetes-actuator.ts';
export {
  autoscalerLeaseKey,
  DEFAULT_LEASE_BUCKET,
  isCasConflict,
  LeaderLease,
  type LeaderLeaseOptions,
  type LeaseBucketOptions,
  type LeaseLossReason,
  type LeaseRecord,
  type LeaseStore,
  type LeaseStoreEntry,
  openLeaseBucket,
} from './autoscaler/lease.ts';
export {
  type FleetWorkerCommandOptions,
  fleetWorkerCommand,
  type LaunchedWorker,
  LocalSupervisor,
  type LocalSupervisorOptions,
  type ProcessLauncherOptions,
  processLauncher,
  type SupervisorStatus,
  WORKER_NODE_FLAGS,
  type WorkerCommand,
  type WorkerExit,
  type WorkerLauncher,
  WorkerStartError,
} from './autoscaler/local-supervisor.ts';
export { MemoryLeaseStore } from './autoscaler/memory-lease-store.ts';
export { SchedulerError } from './errors.ts';
export { PrewarmRelay, type PrewarmRelayOptions } from './prewarm-relay.ts';
export { RegionProbe, type RegionProbeOptions } from './region-probe.ts';
export { Scheduler, type SchedulerOptions } from './scheduler.ts';
