import { FlotillaError } from '@flotilla/protocol';

/** An error raised by the sandbox: limits, bundle load failures, render failures. */
export class SandboxError extends FlotillaError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'SandboxError';
  }
}
