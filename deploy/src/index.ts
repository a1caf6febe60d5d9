export { ControlPlane } from './control-plane.ts';
export { ControlPlaneBundleStore } from './control-plane-bundle-store.ts';
export { JetStreamControlStore } from './jetstream-control-store.ts';
export { MemoryControlStore } from './memory-control-store.ts';
export type { DeploymentRecord, EnvironmentRecord } from './records.ts';
