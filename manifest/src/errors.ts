/**
 * Errors of `@flotilla/manifest`.
 *
 * @module
 */
import { FlotillaError } from '@flotilla/protocol';

/** Options of {@link ManifestError}. */
export interface ManifestErrorOptions {
  /** What was being validated, put before the field in the message (e.g. `manifest`). */
  context?: string;
  /** The underlying error, kept for logs. */
  cause?: unknown;
}

/**
 * A manifest, route pattern, cache option or cache-key spec is invalid
 * (`FLOTILLA_ERR_BUNDLE`: a bad manifest is the bundle's fault). The message
 * names the bad field, e.g.
 * `manifest: routes[3].criteria.path must start with "/" (got "p/:id")`.
 *
 * @example
 * try {
 *   validateManifest(JSON.parse(text));
 * } catch (err) {
 *   if (err instanceof ManifestError) console.error(err.field, err.problem);
 * }
 */
export class ManifestError extends FlotillaError {
  declare readonly code: 'FLOTILLA_ERR_BUNDLE';
  /** The bad field, as a path such as `routes[3].cache.edge.maxAgeSeconds`. */
  readonly field: string;
  /** What is wrong with it, e.g. `must be a non-negative integer (got -1)`. */
  readonly problem: string;

  constructor(field: string, problem: string, options: ManifestErrorOptions = {}) {
    const prefix = options.context ? `${options.context}: ` : '';
    super('FLOTILLA_ERR_BUNDLE', `${prefix}${field} ${problem}`, { cause: options.cause });
    this.name = 'ManifestError';
    this.field = field;
    this.problem = problem;
  }
}
