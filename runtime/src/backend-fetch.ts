/**
 * Host side of the guest's `fetch`: addressing (only the deployment's
 * declared backends, {@link BackendPolicy}), per-render limits (count,
 * concurrency, deadline: {@link RenderScope}), the request itself with its
 * response size cap, redirects and `traceparent` ({@link sendToBackend}).
 * Every failure becomes a message for a guest `TypeError`; nothing here
 * ever throws into the guest or hands it a host stack trace. See
 * `runtime/README.md`, "Backend fetch".
 */
import { BackendPolicy, type BackendTarget, shown } from './backend-policy.ts';
import { type BackendFetchInit, sendToBackend } from './backend-request.ts';
import { GuestFailure } from './fetch-errors.ts';
import { type FetchScope, type FetchScopeOptions, RenderScope } from './fetch-scope.ts';
import { type GuestFetchResult, MAX_FETCHES_PER_RENDER } from './guest/host.ts';
import type { IoWait } from './io-wait.ts';

/** The `backend` label of a sub-request refused before it had a backend. */
export const UNDECLARED_BACKEND = '(undeclared)';

function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}

/**
 * The backend fetch bridge of one isolate: one scope per running render
 * (keyed by request id), sub-requests with Node's `fetch` (undici).
 *
 * The deployment's declared backends (its manifest's) fix the names a
 * bundle may use. A render may re-point declared names to other origins
 * (an environment's backends, see {@link BackendFetcher.withOverrides}),
 * never add a name.
 */
export class BackendFetcher {
  readonly #policy: BackendPolicy;
  readonly #responseBytes: number;
  readonly #scopes = new Map<string, RenderScope>();
  #disposed = false;

  /**
   * @param backends already validated (`validateBackends`).
   * @param responseBytes cap on each response body (`limits.backendResponseBytes`).
   */
  constructor(deploymentId: string, backends: Record<string, string>, responseBytes: number) {
    this.#policy = new BackendPolicy(deploymentId, backends);
    this.#responseBytes = responseBytes;
  }

  /**
   * The backends of one render: the declared ones, re-pointed by
   * `overrides` (see {@link BackendPolicy.withOverrides}).
   *
   * @param fail builds the error thrown for a bad entry, given the option's
   * name (`backends.api`) and the problem.
   */
  withOverrides(
    overrides: unknown,
    fail: (option: string, problem: string) => Error,
  ): Readonly<Record<string, string>> {
    return this.#policy.withOverrides(overrides, fail);
  }

  /**
   * Opens the scope of one render. Renders sharing a request id share a
   * scope (limits and backends included); it ends with the last of them.
   */
  begin(requestId: string, options: FetchScopeOptions): FetchScope {
    const existing = this.#scopes.get(requestId);
    if (existing && !existing.ended) {
      existing.refs++;
      return existing;
    }
    const scope = new RenderScope(options, options.backends ?? this.#policy.backends, (s) => {
      if (this.#scopes.get(requestId) === s) this.#scopes.delete(requestId);
    });
    if (this.#disposed) scope.abort('disposed');
    else this.#scopes.set(requestId, scope);
    return scope;
  }

  /** The I/O wait of render `requestId`, while its scope is open. */
  ioOf(requestId: string): IoWait | undefined {
    const scope = this.#scopes.get(requestId);
    return scope && !scope.ended ? scope.io : undefined;
  }

  /** Aborts every sub-request (the isolate is going away). */
  dispose(): void {
    this.#disposed = true;
    for (const scope of [...this.#scopes.values()]) scope.abort('disposed');
    this.#scopes.clear();
  }

  /**
   * Runs one guest `fetch` call. Resolves with what to deliver to the
   * guest, or `undefined` when the render that made the call ended
   * meanwhile (its pending calls are forgotten in the guest). Never rejects.
   */
  async fetch(requestId: string, init: BackendFetchInit): Promise<GuestFetchResult | undefined> {
    const scope = this.#scopes.get(requestId);
    if (!scope || scope.ended) {
      return {
        ok: false,
        message: 'fetch failed: the render that called fetch has already ended',
      };
    }
    const url = typeof init.url === 'string' ? init.url : '';
    scope.calls++;
    let backend = UNDECLARED_BACKEND;
    const call = {};
    let registered = false;
    try {
      let target: BackendTarget | undefined;
      let refused: unknown;
      try {
        target = this.#policy.resolve(scope.backends, url);
        backend = target.backend;
      } catch (err) {
        refused = err;
      }
      if (scope.calls > MAX_FETCHES_PER_RENDER) {
        throw new GuestFailure(
          `fetch to ${shown(url)} refused: a render may make at most ${MAX_FETCHES_PER_RENDER} sub-requests (limit reached)`,
          'limit',
        );
      }
      if (target === undefined) throw refused;
      scope.inFlight.set(call, backend);
      registered = true;
      const result = await sendToBackend(scope, target, init, this.#policy, this.#responseBytes);
      // The render ended meanwhile: already counted, and the guest forgot the call.
      if (!scope.inFlight.delete(call)) return undefined;
      scope.onRequest?.(backend, statusClass(result.status));
      return result;
    } catch (err) {
      // The render ended meanwhile: already counted, and the guest forgot the call.
      if (registered && !scope.inFlight.delete(call)) return undefined;
      const failure =
        err instanceof GuestFailure
          ? err
          : new GuestFailure('fetch failed: internal error in the fetch bridge', 'error');
      scope.onRequest?.(backend, failure.outcome);
      return { ok: false, message: failure.message };
    }
  }
}
