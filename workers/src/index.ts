export {
  type BundleStore,
  DirectoryBundleStore,
  type ResolvedBundle,
} from './bundle-store.ts';
export { WorkerError } from './errors.ts';
export { RenderWorker, type RenderWorkerOptions } from './render-worker.ts';
