export {
  MAX_CONCURRENT_FETCHES,
  MAX_FETCHES_PER_RENDER,
  MAX_REDIRECTS,
  UNDECLARED_BACKEND,
} from './backend-fetch.ts';
export { guestPreludeSource, useGuestPreludeSource } from './guest-code.ts';
export {
  type AcquiredIsolate,
  type DeploymentSource,
  IsolateCache,
  type IsolateCacheOptions,
  type IsolateCacheStats,
  type PrewarmOptions,
  type PrewarmResult,
} from './isolate-cache.ts';
export { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from './limits.ts';
export { assertIsolateHostProcess, ISOLATE_HOST_FLAGS } from './process-flags.ts';
export {
  CompileCache,
  DeploymentIsolate,
  type GuestLogEntry,
  type LoadOptions,
  type RenderOptions,
  type SandboxRequest,
  type SandboxResponse,
} from './sandbox.ts';
