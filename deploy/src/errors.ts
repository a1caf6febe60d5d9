import { FlotillaError } from '@flotilla/protocol';

/** An error raised by the control plane. */
export class DeployError extends FlotillaError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'DeployError';
  }
}
