export { UNDECLARED_BACKEND } from './backend-fetch.ts';
export { CompileCache } from './compile-cache.ts';
export { guestPreludeSource, useGuestPreludeSource } from './guest-code.ts';
export type { RenderIoGate } from './io-wait.ts';
export { type DeploymentSource, IsolateCache, type IsolateCacheStats } from './isolate-cache.ts';
export type { IsolateCpuProfile, IsolateProfiler } from './isolate-profiler.ts';
export { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from './limits.ts';
export type { SandboxRequest, SandboxResponse } from './marshal.ts';
export { assertIsolateHostProcess, ISOLATE_HOST_FLAGS } from './process-flags.ts';
export { DeploymentIsolate, type RenderStreamSink } from './sandbox.ts';
export {
  type DeploymentSnapshot,
  SnapshotCache,
  type SnapshotCacheOptions,
  type SnapshotEvent,
} from './snapshot-cache.ts';
