import { FlotillaError } from '@flotilla/protocol';

/** An error raised by the scheduler while dispatching. */
export class SchedulerError extends FlotillaError {
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'SchedulerError';
  }
}
