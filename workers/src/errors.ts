import { FlotillaError } from '@flotilla/protocol';

/** An error raised by the worker process (not by the bundle). */
export class WorkerError extends FlotillaError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'WorkerError';
  }
}
