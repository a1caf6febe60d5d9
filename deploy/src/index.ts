export { ControlPlane } from './control-plane.ts';
export { ControlPlaneBundleStore } from './control-plane-bundle-store.ts';
export { JetStreamControlStore } from './jetstream-control-store.ts';
export { MemoryControlStore } from './memory-control-store.ts';
export type { DeploymentRecord, EnvironmentRecord, SecretsKeyRecord } from './records.ts';
export {
  generateSecretsKeyPair,
  parsePrivateKeys,
  parsePublicKey,
  readSecretKeyring,
  type SecretEnvelope,
  SecretKeyring,
  sealSecret,
} from './secret-envelope.ts';
