export {
  type BundleStore,
  DirectoryBundleStore,
  type ResolvedBundle,
} from './bundle-store.ts';
export { RenderWorker, type RenderWorkerOptions } from './render-worker.ts';
