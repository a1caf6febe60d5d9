export {
  type BuildOutput,
  blobName,
  ControlPlane,
  type ControlPlaneOptions,
  type EnvironmentPatch,
  type EnvironmentWatch,
  type PublishOptions,
  type PublishPhase,
  type PublishProgress,
  type PublishResult,
} from './control-plane.ts';
export {
  ControlPlaneBundleStore,
  type ControlPlaneBundleStoreOptions,
  type ControlPlaneResolvedBundle,
} from './control-plane-bundle-store.ts';
export type {
  BlobPutOptions,
  BlobPutResult,
  BlobSource,
  ControlEntry,
  ControlStore,
  ControlWatch,
  ControlWatchEvent,
} from './control-store.ts';
export { CONFLICT_CODE, DeployError, StoreConflictError } from './errors.ts';
export { environmentHost } from './hosts.ts';
export {
  DEFAULT_BLOB_BUCKET,
  DEFAULT_CONTROL_BUCKET,
  JetStreamControlStore,
  type JetStreamControlStoreOptions,
} from './jetstream-control-store.ts';
export { checkManifest } from './manifest-check.ts';
export { MemoryControlStore } from './memory-control-store.ts';
export {
  type DeploymentRecord,
  deploymentIdOf,
  type EnvironmentRecord,
  MAX_HISTORY,
  MAX_SPLIT,
  type SplitEntry,
} from './records.ts';
