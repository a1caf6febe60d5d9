export { type ControlApi, ControlClient, type ControlClientOptions } from './control-client.ts';
export { ControlPlane } from './control-plane.ts';
export { ControlPlaneBundleStore } from './control-plane-bundle-store.ts';
export { ControlService, type ControlServiceOptions } from './control-service.ts';
export {
  CONTROL_VERBS,
  type ControlArgs,
  type ControlVerb,
} from './control-verbs.ts';
export {
  DEFAULT_BLOB_BUCKET,
  DEFAULT_CONTROL_BUCKET,
  JetStreamControlStore,
} from './jetstream-control-store.ts';
export { MemoryControlStore } from './memory-control-store.ts';
export {
  type PurgeConnection,
  type PurgeFleetOptions,
  type PurgeFleetResult,
  purgeFleet,
} from './purge-client.ts';
export type { DeploymentRecord, EnvironmentRecord, SecretsKeyRecord } from './records.ts';
export type {
  RedirectTablePage,
  RedirectTableRecord,
  StagedRedirects,
} from './redirect-tables.ts';
export {
  generateSecretsKeyPair,
  parsePrivateKeys,
  parsePublicKey,
  readSecretKeyring,
  type SecretEnvelope,
  SecretKeyring,
  sealSecret,
} from './secret-envelope.ts';
