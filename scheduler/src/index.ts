export { PrewarmRelay, type PrewarmRelayOptions } from './prewarm-relay.ts';
export { RegionProbe, type RegionProbeOptions } from './region-probe.ts';
export { Scheduler, type SchedulerOptions } from './scheduler.ts';
