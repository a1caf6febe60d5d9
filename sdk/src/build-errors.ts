/**
 * The error `flotilla build` raises.
 *
 * @module
 */
import { FlotillaError } from '@flotilla/protocol';

/**
 * Codes a {@link BuildError} carries: `FLOTILLA_ERR_INVALID_OPTION` for a bad
 * `flotilla.config.json` or `buildApp` option, `FLOTILLA_ERR_BUILD` for an
 * app that does not build (compile errors, Node built-ins, native addons, an
 * over-size bundle, routes that cannot be described).
 */
export type BuildErrorCode = 'FLOTILLA_ERR_BUILD' | 'FLOTILLA_ERR_INVALID_OPTION';

/**
 * Raised by `loadProjectConfig`, `buildProject` and `buildApp`. The message
 * is complete and meant to be shown as is, e.g.
 * `flotilla build: shop: route GET /p/:id (route 3): cache options must be static: …`.
 *
 * @example
 * try { await buildProject({ dir }) }
 * catch (error) { if (error instanceof BuildError) console.error(error.message) }
 */
export class BuildError extends FlotillaError {
  declare readonly code: BuildErrorCode;

  constructor(code: BuildErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'BuildError';
  }
}

/** A `FLOTILLA_ERR_BUILD` error whose message starts with `flotilla build: <subject>: `. */
export function buildFailure(subject: string, problem: string, cause?: unknown): BuildError {
  return new BuildError('FLOTILLA_ERR_BUILD', `flotilla build: ${subject}: ${problem}`, { cause });
}
