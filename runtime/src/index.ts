export { UNDECLARED_BACKEND } from './backend-fetch.ts';
export { validateBackends } from './backend-policy.ts';
export { MAX_REDIRECTS } from './backend-request.ts';
export { CompileCache } from './compile-cache.ts';
export type { GuestLogEntry } from './console-capture.ts';
export { SandboxError } from './errors.ts';
export { MAX_CONCURRENT_FETCHES } from './fetch-scope.ts';
export { MAX_FETCHES_PER_RENDER } from './guest/host.ts';
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
export type { SandboxRequest, SandboxResponse } from './marshal.ts';
export { assertIsolateHostProcess, ISOLATE_HOST_FLAGS } from './process-flags.ts';
export { DeploymentIsolate, type LoadOptions, type RenderOptions } from './sandbox.ts';
