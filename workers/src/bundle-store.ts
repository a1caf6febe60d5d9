import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FlotillaError, isSubjectToken } from '@flotilla/protocol';
import { validateBackends } from '@flotilla/protocol/schema';
import type { SandboxLimits } from '@flotilla/runtime';

/** Where a deployment's bundle lives on this machine, and what its renders get. */
export interface ResolvedBundle {
  deploymentId: string;
  bundlePath: string;
  bundleHash: string;
  /**
   * Backends the bundle may fetch (name → origin): the manifest's
   * `backends`, with the origins the environment re-points (when resolved
   * for one). The names must be the manifest's: an environment may re-point
   * a declared backend, never add one (the render refuses an undeclared
   * name with `FLOTILLA_ERR_INVALID_OPTION`). Absent: none.
   */
  backends?: Record<string, string>;
  /**
   * The environment's variables and secrets (name → string value), which
   * the handler gets as `handler(request, env)`. Absent: an empty `env`.
   */
  env?: Record<string, string>;
  /**
   * The sandbox limits the deployment asks for: the manifest's `limits`,
   * as is. Each render is held to the smaller of these and the worker's
   * (operator's) limits; a value the runtime refuses fails the render with
   * `FLOTILLA_ERR_INVALID_OPTION` naming it (`limits.cpuMs`). Absent: the
   * operator's limits.
   * @default undefined
   * @example { cpuMs: 200, heapMb: 64 }
   */
  limits?: Partial<SandboxLimits>;
  /**
   * Path a pre-warm renders: one the deployment renders itself (never a
   * proxy to another origin); `null`: none, a pre-warm only loads it.
   * @default '/'
   */
  prewarmPath?: string | null;
  /**
   * Every path a pre-warm renders, in order (`prewarmPaths` of
   * `@flotilla/manifest`: the pre-warm path, then the manifest's prerender
   * list and literal routes the bundle renders itself, at most 8). Each
   * compiles the code of its route; the deployment's snapshot renders them
   * too. Absent: {@link prewarmPath} alone.
   */
  prewarmPaths?: string[];
}

/** Finds the bundle of a deployment, and what it gets in an environment. */
export interface BundleStore {
  /**
   * @param environment the app environment the request is served for
   * (`production`), from the render request; absent for preview hosts (the
   * deployment alone: the manifest's backends, no variables).
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment.
   */
  resolve(deploymentId: string, environment?: string): Promise<ResolvedBundle>;
}

/**
 * Reads deployments from a directory laid out as
 * `<root>/<deploymentId>/{bundle.js,manifest.json}` (the layout the local
 * deployment store of `@flotilla/deploy` writes). Deployments are immutable,
 * so each manifest is read once. It knows no environments: every
 * environment gets the manifest's backends and limits, and no variables.
 */
export class DirectoryBundleStore implements BundleStore {
  readonly #root: string;
  readonly #known = new Map<string, ResolvedBundle>();

  /** @param root directory of deployments. */
  constructor(root: string) {
    if (typeof root !== 'string' || root === '') {
      throw new TypeError('DirectoryBundleStore needs a root directory');
    }
    this.#root = resolve(root);
  }

  async resolve(deploymentId: string, _environment?: string): Promise<ResolvedBundle> {
    const known = this.#known.get(deploymentId);
    if (known) return known;
    if (!isSubjectToken(deploymentId)) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `deployment id "${deploymentId}" is invalid`,
      );
    }
    const dir = join(this.#root, deploymentId);
    let text: string;
    try {
      text = await readFile(join(dir, 'manifest.json'), 'utf8');
    } catch (err) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `deployment ${deploymentId} is not in ${this.#root}`,
        { cause: err },
      );
    }
    // The deployment exists: a broken manifest is a bad deployment, not a missing one.
    let manifest: unknown;
    try {
      manifest = JSON.parse(text);
    } catch (err) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `manifest of ${deploymentId} is not valid JSON`,
        {
          cause: err,
        },
      );
    }
    const bundleHash = (manifest as { bundleHash?: unknown } | null)?.bundleHash;
    if (typeof bundleHash !== 'string' || bundleHash === '') {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `manifest of ${deploymentId} has no bundleHash`,
      );
    }
    const backends = validateBackends(
      (manifest as { backends?: unknown }).backends,
      (option, problem) =>
        new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          `manifest of ${deploymentId}: "${option}" ${problem}`,
        ),
    );
    // Checked by the runtime when an isolate loads (a bad value fails the
    // render with FLOTILLA_ERR_INVALID_OPTION naming it).
    const limits = (manifest as { limits?: Partial<SandboxLimits> }).limits;
    const resolved: ResolvedBundle = {
      deploymentId,
      bundlePath: join(dir, 'bundle.js'),
      bundleHash,
      backends,
      ...(limits !== undefined ? { limits } : {}),
    };
    this.#known.set(deploymentId, resolved);
    return resolved;
  }
}
