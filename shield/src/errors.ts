import { FlotillaError } from '@flotilla/protocol';

/** An error raised by the shield itself (routing, bad requests). */
export class ShieldError extends FlotillaError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'ShieldError';
  }
}
