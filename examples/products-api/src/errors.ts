/**
 * The error the products API raises.
 *
 * @module
 */
import { type ErrorCode, FlotillaError } from '@flotilla/protocol';

/**
 * An error of the products API: a bad option (`FLOTILLA_ERR_INVALID_OPTION`,
 * also when the port cannot be listened on) or an unexpected failure
 * (`FLOTILLA_ERR_INTERNAL`).
 */
export class ProductsApiError extends FlotillaError {
  constructor(code: ErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ProductsApiError';
  }
}
