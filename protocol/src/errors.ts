/**
 * Every error Flotilla raises carries a stable string `code` (`FLOTILLA_ERR_*`).
 * Errors cross threads, isolates and NATS as plain `{ code, message }`; the
 * catalogue below says, for each code, whose fault it is and which HTTP status
 * a client sees.
 */

/** Whose fault an error is: the bundle's (`user`) or the fleet's (`system`). */
export type ErrorKind = 'user' | 'system';

interface CodeInfo {
  readonly kind: ErrorKind;
  readonly status: number;
}

/**
 * The catalogue of error codes. `status` is what the shield answers when the
 * error ends a request.
 */
export const ERROR_CODES = {
  /** The bundle threw, or returned something that is not a Response. */
  FLOTILLA_ERR_RENDER: { kind: 'user', status: 502 },
  /**
   * A backend the shield proxies to at the edge (a `proxy()` route answered
   * without a render) could not be reached, refused the request, or sent a
   * malformed or too large answer.
   */
  FLOTILLA_ERR_BACKEND: { kind: 'user', status: 502 },
  /** The render used more CPU time than allowed; the isolate was disposed. */
  FLOTILLA_ERR_CPU_LIMIT: { kind: 'user', status: 503 },
  /** The render took longer (wall clock) than allowed, or a synchronous run reached its wall-clock backstop with less CPU than the CPU limit. */
  FLOTILLA_ERR_WALL_LIMIT: { kind: 'user', status: 503 },
  /** The isolate exceeded its heap limit, or V8 refused an allocation (an ArrayBuffer, a string past its longest); the isolate was disposed. */
  FLOTILLA_ERR_MEMORY_LIMIT: { kind: 'user', status: 503 },
  /** The response body was larger than allowed. */
  FLOTILLA_ERR_OUTPUT_LIMIT: { kind: 'user', status: 502 },
  /** The bundle failed to load: syntax error, too big, or no handler registered. */
  FLOTILLA_ERR_BUNDLE: { kind: 'user', status: 502 },
  /** No deployment matches the request's host or path. */
  FLOTILLA_ERR_NOT_FOUND: { kind: 'user', status: 404 },
  /** The client's request is malformed (conflicting framing headers, a second Host…). */
  FLOTILLA_ERR_BAD_REQUEST: { kind: 'user', status: 400 },
  /** The request's method is one the shield never serves (`CONNECT`: it is no proxy). */
  FLOTILLA_ERR_METHOD_NOT_ALLOWED: { kind: 'user', status: 405 },
  /** The request target is longer than the shield accepts. */
  FLOTILLA_ERR_URI_TOO_LONG: { kind: 'user', status: 414 },
  /** The request's headers are larger, or more numerous, than the shield accepts. */
  FLOTILLA_ERR_HEADERS_TOO_LARGE: { kind: 'user', status: 431 },
  /** The client's request body is larger than the shield accepts. */
  FLOTILLA_ERR_BODY_TOO_LARGE: { kind: 'user', status: 413 },
  /** The request's deadline passed before it could be served. */
  FLOTILLA_ERR_DEADLINE: { kind: 'system', status: 504 },
  /** No scheduler or worker answered in the region. */
  FLOTILLA_ERR_NO_RESPONDERS: { kind: 'system', status: 503 },
  /** The worker rendering the request died (stopped heartbeating) before it answered. */
  FLOTILLA_ERR_WORKER_LOST: { kind: 'system', status: 502 },
  /** The scheduler handling the request died (stopped heartbeating) before it answered. */
  FLOTILLA_ERR_SCHEDULER_LOST: { kind: 'system', status: 502 },
  /** The region has no worker able to take the render. */
  FLOTILLA_ERR_NO_WORKERS: { kind: 'system', status: 503 },
  /** The fleet is at capacity and shed the request. */
  FLOTILLA_ERR_OVERLOADED: { kind: 'system', status: 503 },
  /**
   * The app's renders keep failing by its own fault (limits, render errors):
   * the scheduler paces them one at a time, and this miss could not start
   * within the queue wait (the scheduler's penalty box).
   */
  FLOTILLA_ERR_THROTTLED: { kind: 'user', status: 503 },
  /** A request over the transport timed out. */
  FLOTILLA_ERR_TIMEOUT: { kind: 'system', status: 504 },
  /** The transport is closed or draining. */
  FLOTILLA_ERR_TRANSPORT_CLOSED: { kind: 'system', status: 503 },
  /** A reply that came in chunks lost one, or its chunks did not add up to the size it announced. */
  FLOTILLA_ERR_REPLY_INCOMPLETE: { kind: 'system', status: 502 },
  /** A wire message could not be decoded (unknown version, bad field). */
  FLOTILLA_ERR_PROTOCOL: { kind: 'system', status: 502 },
  /** The process is shutting down and takes no new work. */
  FLOTILLA_ERR_DRAINING: { kind: 'system', status: 503 },
  /** A build failed: bad app config, Node built-in import, over-size bundle, dynamic cache options. */
  FLOTILLA_ERR_BUILD: { kind: 'user', status: 500 },
  /** A control-plane change lost a race or contradicts the current state (e.g. nothing to roll back to). */
  FLOTILLA_ERR_CONFLICT: { kind: 'user', status: 409 },
  /** A NATS credential (seed file, TLS CA file) is missing, unreadable or malformed, or NATS refused it. */
  FLOTILLA_ERR_CREDENTIALS: { kind: 'user', status: 401 },
  /** NATS or the control service refused an action this credential is not allowed (another team's app, a role's forbidden write). */
  FLOTILLA_ERR_FORBIDDEN: { kind: 'user', status: 403 },
  /** An option passed to a constructor or CLI is invalid. */
  FLOTILLA_ERR_INVALID_OPTION: { kind: 'user', status: 500 },
  /**
   * A secret variable of the environment could not be decrypted: the worker
   * holds no secrets key, not the one the secret is sealed to, or the
   * envelope does not open. The operator's to fix (`--secrets-key`).
   */
  FLOTILLA_ERR_SECRET: { kind: 'system', status: 500 },
  /** The process was started without a required Node flag or runtime. */
  FLOTILLA_ERR_PROCESS_FLAGS: { kind: 'system', status: 500 },
  /** An unexpected failure inside the fleet. */
  FLOTILLA_ERR_INTERNAL: { kind: 'system', status: 500 },
} as const satisfies Record<string, CodeInfo>;

/** A known error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** True when `code` is in the catalogue ({@link ERROR_CODES}). */
export function isErrorCode(code: unknown): code is ErrorCode {
  // Own keys only: 'toString' or '__proto__' must not resolve through the prototype.
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/**
 * A code as it crosses threads, isolates and NATS: one of the catalogue, or
 * a `FLOTILLA_ERR_*` code this process does not know yet (a newer peer's),
 * which has the status and kind of `FLOTILLA_ERR_INTERNAL`.
 */
export type WireErrorCode = ErrorCode | `FLOTILLA_ERR_${string}`;

/** The shape in which errors cross threads, isolates and NATS. */
export interface WireError {
  code: WireErrorCode;
  message: string;
}

/** Options for {@link FlotillaError}. */
export interface FlotillaErrorOptions {
  /** The underlying error, kept for logs; never sent over the wire. */
  cause?: unknown;
}

/**
 * Base class of every error Flotilla raises. Subclasses exist only where they
 * carry data (a field, a route, a status); everything else throws this with
 * its code.
 *
 * @example
 * throw new FlotillaError('FLOTILLA_ERR_NO_WORKERS', 'region us-east has no live worker');
 */
export class FlotillaError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FlotillaError';
    this.code = code;
  }

  /** `user` when the bundle is at fault, `system` when the fleet is. */
  get kind(): ErrorKind {
    return errorKind(this.code);
  }

  /** The HTTP status a client sees when this error ends its request. */
  get status(): number {
    return errorStatus(this.code);
  }

  /** The plain form that crosses threads, isolates and NATS (its code is one of the catalogue). */
  toWire(): WireError & { code: ErrorCode } {
    return { code: this.code, message: this.message };
  }
}

function info(code: string): CodeInfo {
  return isErrorCode(code) ? ERROR_CODES[code] : ERROR_CODES.FLOTILLA_ERR_INTERNAL;
}

/** Whose fault `code` is; unknown codes count as `system`. */
export function errorKind(code: string): ErrorKind {
  return info(code).kind;
}

/** The HTTP status for `code`; unknown codes map to 500. */
export function errorStatus(code: string): number {
  return info(code).status;
}

/** Converts anything thrown into the wire shape, keeping Flotilla codes (known or not). */
export function toWireError(err: unknown): WireError {
  if (err instanceof FlotillaError) return err.toWire();
  if (isWireError(err)) return { code: err.code, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: 'FLOTILLA_ERR_INTERNAL', message };
}

/**
 * Rebuilds a {@link FlotillaError} from its wire shape. A code this process
 * does not know becomes `FLOTILLA_ERR_INTERNAL` (the status and kind any
 * unknown code has), and the original code leads the message.
 */
export function fromWireError(wire: { code: string; message: string }): FlotillaError {
  return isErrorCode(wire.code)
    ? new FlotillaError(wire.code, wire.message)
    : new FlotillaError('FLOTILLA_ERR_INTERNAL', `${wire.code}: ${wire.message}`);
}

/**
 * True when `value` has the `{ code: 'FLOTILLA_ERR_*', message }` shape. The
 * code may be one this process does not know (see {@link WireErrorCode}).
 */
export function isWireError(value: unknown): value is WireError {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.code === 'string' &&
    v.code.startsWith('FLOTILLA_ERR_') &&
    typeof v.message === 'string'
  );
}

/** Thrown by constructors and CLIs when an option is invalid; names the option. */
export class InvalidOptionError extends FlotillaError {
  constructor(option: string, problem: string) {
    super('FLOTILLA_ERR_INVALID_OPTION', `option "${option}" ${problem}`);
    this.name = 'InvalidOptionError';
  }
}
