import { FlotillaError } from '@flotilla/protocol';

/** Raised by a transport: no responders, timeout, or closed connection. */
export class TransportError extends FlotillaError {
  constructor(
    code: 'FLOTILLA_ERR_NO_RESPONDERS' | 'FLOTILLA_ERR_TIMEOUT' | 'FLOTILLA_ERR_TRANSPORT_CLOSED',
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.name = 'TransportError';
  }
}
