export { DeployError } from './errors.ts';
export { type AppPointer, type Deployment, LocalDeploymentStore } from './local-store.ts';
