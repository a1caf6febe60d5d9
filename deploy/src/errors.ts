import { FlotillaError } from '@flotilla/protocol';

/**
 * Code of a control-plane error caused by the current state rather than the
 * request itself: a compare-and-set lost too many times, a deployment still
 * in use, nothing to roll back to, a deployment id taken by other content.
 */
export const CONFLICT_CODE = 'FLOTILLA_ERR_CONFLICT';

/**
 * A compare-and-set write of a {@link ControlStore} lost: the key exists
 * (create) or moved past the expected revision (update, delete).
 */
export class StoreConflictError extends FlotillaError {
  /** The key the write targeted. */
  readonly key: string;

  constructor(key: string, message: string, options: { cause?: unknown } = {}) {
    super(CONFLICT_CODE, message, options);
    this.name = 'StoreConflictError';
    this.key = key;
  }
}
