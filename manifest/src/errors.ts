/**
 * Errors of `@flotilla/manifest`.
 *
 * This package runs inside isolates too, so it imports nothing, not even
 * `@flotilla/protocol` (whose entry pulls in `node:crypto`). {@link ManifestError}
 * therefore extends `Error` directly, with the same `{ code, message }` shape
 * as `FlotillaError`: `toWireError` from `@flotilla/protocol` keeps its code.
 *
 * @module
 */

/** Options of {@link ManifestError}. */
export interface ManifestErrorOptions {
  /** What was being validated, put before the field in the message (e.g. `manifest`). */
  context?: string;
  /** The underlying error, kept for logs. */
  cause?: unknown;
}

/**
 * A manifest, route pattern, cache option or cache-key spec is invalid. The
 * message names the bad field, e.g.
 * `manifest: routes[3].criteria.path must start with "/" (got "p/:id")`.
 *
 * @example
 * try {
 *   validateManifest(JSON.parse(text));
 * } catch (err) {
 *   if (err instanceof ManifestError) console.error(err.field, err.problem);
 * }
 */
export class ManifestError extends Error {
  /** Always `FLOTILLA_ERR_BUNDLE`: a bad manifest is the bundle's fault. */
  readonly code = 'FLOTILLA_ERR_BUNDLE';
  /** The bad field, as a path such as `routes[3].cache.edge.maxAgeSeconds`. */
  readonly field: string;
  /** What is wrong with it, e.g. `must be a non-negative integer (got -1)`. */
  readonly problem: string;

  constructor(field: string, problem: string, options: ManifestErrorOptions = {}) {
    const prefix = options.context ? `${options.context}: ` : '';
    super(
      `${prefix}${field} ${problem}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'ManifestError';
    this.field = field;
    this.problem = problem;
  }

  /** The plain `{ code, message }` form that crosses threads, isolates and NATS. */
  toWire(): { code: string; message: string } {
    return { code: this.code, message: this.message };
  }
}
