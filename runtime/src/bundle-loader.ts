/**
 * Makes a deployment's isolate: a fresh isolate and context, the prelude
 * and its bridge, then the bundle compiled (with this thread's compile
 * cache) and evaluated, and a check that it registered a handler.
 */
import { FlotillaError } from '@flotilla/protocol';
import ivm from 'isolated-vm';
import type { CompileCache } from './compile-cache.ts';
import type { GuestLogEntry } from './console-capture.ts';
import { type Bridge, installBridge } from './host-bridge.ts';
import { isMemoryError, isTimeout, processCpuMs, used } from './limit-guard.ts';
import type { SandboxLimits } from './limits.ts';
import { type DeploymentSnapshot, type SnapshotCache, snapshotBlob } from './snapshot-cache.ts';

/** The bundle to load, and where its output goes. */
export interface BundleSource {
  deploymentId: string;
  code: string;
  /** Content hash of `code`; keys the compile cache. */
  bundleHash: string;
  compileCache?: CompileCache | undefined;
  log?: ((entry: GuestLogEntry) => void) | undefined;
  /** With V8's inspector (see `LoadOptions.profiling`; not from a snapshot). */
  profiling?: boolean | undefined;
  /**
   * This deployment's snapshot (prelude and bundle evaluated), made by this
   * process's {@link SnapshotCache}: the isolate starts from it, and the
   * bundle is neither compiled nor evaluated again.
   */
  snapshot?: DeploymentSnapshot | undefined;
}

/** An isolate holding a loaded bundle. */
export interface LoadedIsolate {
  isolate: ivm.Isolate;
  bridge: Bridge;
  /** Every Reference into the isolate, to release when it is disposed. */
  refs: Array<{ release(): void }>;
  /** True when it started from the deployment's snapshot. */
  fromSnapshot: boolean;
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Creates an isolate and loads `source` in it, under `limits` (heap, and
 * `cpuMs` for the evaluation). On failure nothing is left: the isolate is
 * disposed and its References released.
 *
 * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` (syntax error, threw while
 * loading, no handler), `FLOTILLA_ERR_CPU_LIMIT` (CPU time), `FLOTILLA_ERR_WALL_LIMIT`,
 * `FLOTILLA_ERR_MEMORY_LIMIT`.
 * @throws InvalidOptionError `FLOTILLA_ERR_INVALID_OPTION` (`snapshot`) for a
 * snapshot this thread's `SnapshotCache` did not make for this deployment.
 */
export async function loadIsolate(
  source: BundleSource,
  limits: SandboxLimits,
): Promise<LoadedIsolate> {
  if (source.snapshot) {
    // Before V8 sees it: a blob not made here could run anything (and a
    // damaged one aborts the process).
    const blob = snapshotBlob(source.snapshot, source.deploymentId, source.bundleHash);
    return startFromSnapshot(source, blob, limits);
  }
  const inspector = source.profiling === true;
  const isolate = new ivm.Isolate({ memoryLimit: limits.heapMb, inspector });
  const refs: Array<{ release(): void }> = [];
  try {
    const context = await isolate.createContext({ inspector });
    refs.push(context);
    const bridge = await installBridge(isolate, context, source.deploymentId, source.log, refs);

    const cache = source.compileCache;
    const cachedData = cache?.get(source.bundleHash);
    let script: ivm.Script;
    try {
      script = await isolate.compileScript(source.code, {
        filename: `flotilla://${source.deploymentId}/bundle.js`,
        ...(cachedData ? { cachedData } : { produceCachedData: cache !== undefined }),
      });
    } catch (err) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `bundle of ${source.deploymentId} does not compile: ${describeError(err)}`,
        { cause: err },
      );
    }
    if (cache) {
      // isolated-vm sets these on the script; its typings omit them.
      const produced = script as ivm.Script & {
        cachedData?: ivm.ExternalCopy<ArrayBuffer>;
        cachedDataRejected?: boolean;
      };
      if (produced.cachedDataRejected) cache.delete(source.bundleHash);
      else if (produced.cachedData) cache.set(source.bundleHash, produced.cachedData);
    }
    // CPU time, sampled (the run is asynchronous: this thread is free to
    // look; see `used` in limit-guard.ts for how); the run's own timeout is a
    // wall-clock backstop.
    const cpuBefore = isolate.cpuTime;
    const processBefore = processCpuMs();
    const cpuUsedMs = () =>
      isolate.isDisposed ? 0 : used(isolate.cpuTime, cpuBefore, processCpuMs(), processBefore);
    let overCpu = false;
    const watch = setInterval(
      () => {
        if (cpuUsedMs() > limits.cpuMs) {
          overCpu = true;
          isolate.dispose();
        }
      },
      Math.min(100, Math.max(5, Math.floor(limits.cpuMs / 4))),
    );
    try {
      await script.run(context, { timeout: limits.wallMs, release: true });
    } catch (err) {
      if (overCpu || (isTimeout(err) && cpuUsedMs() >= limits.cpuMs)) {
        throw new FlotillaError(
          'FLOTILLA_ERR_CPU_LIMIT',
          `bundle of ${source.deploymentId} used more than ${limits.cpuMs} ms of CPU while loading`,
        );
      }
      if (isTimeout(err)) {
        throw new FlotillaError(
          'FLOTILLA_ERR_WALL_LIMIT',
          `bundle of ${source.deploymentId} took longer than ${limits.wallMs} ms (wall time) while loading`,
        );
      }
      if (isMemoryError(err, isolate)) {
        throw new FlotillaError(
          'FLOTILLA_ERR_MEMORY_LIMIT',
          `bundle of ${source.deploymentId} exceeded ${limits.heapMb} MB while loading`,
        );
      }
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `bundle of ${source.deploymentId} threw while loading: ${describeError(err)}`,
        { cause: err },
      );
    } finally {
      clearInterval(watch);
    }
    if (!(await bridge.hasHandler.apply(undefined, [], { timeout: limits.wallMs }))) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `bundle of ${source.deploymentId} never called Flotilla.serve(handler)`,
      );
    }
    return { isolate, bridge, refs, fromSnapshot: false };
  } catch (err) {
    for (const r of refs) r.release();
    if (!isolate.isDisposed) isolate.dispose();
    throw err;
  }
}

/**
 * Starts an isolate from the deployment's snapshot: its context already
 * holds the prelude and the evaluated bundle, so only the host's callbacks
 * are connected (the snapshot maker checked that a handler is registered;
 * checked again here).
 *
 * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` when the snapshot does not
 * hold a connectable prelude with a handler (the caller loads fresh then).
 */
async function startFromSnapshot(
  source: BundleSource,
  snapshot: ivm.ExternalCopy<ArrayBuffer>,
  limits: SandboxLimits,
): Promise<LoadedIsolate> {
  const isolate = new ivm.Isolate({ memoryLimit: limits.heapMb, snapshot });
  const refs: Array<{ release(): void }> = [];
  try {
    const context = await isolate.createContext();
    refs.push(context);
    const bridge = await installBridge(
      isolate,
      context,
      source.deploymentId,
      source.log,
      refs,
      true,
    );
    if (!(await bridge.hasHandler.apply(undefined, [], { timeout: limits.wallMs }))) {
      throw new Error('no handler');
    }
    return { isolate, bridge, refs, fromSnapshot: true };
  } catch (err) {
    for (const r of refs) r.release();
    if (!isolate.isDisposed) isolate.dispose();
    throw new FlotillaError(
      'FLOTILLA_ERR_BUNDLE',
      `snapshot of ${source.deploymentId} did not start: ${describeError(err)}`,
      { cause: err },
    );
  }
}
