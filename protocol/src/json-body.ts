import type * as v from 'valibot';
import { FlotillaError } from './errors.ts';
import { type AnySchema, parseOrThrow } from './schema.ts';
import { PROTOCOL_VERSION, WIRE_HEADERS, type WireMessage } from './wire.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A message body holding `value` as JSON. Message modules export it typed
 * per message: `encodeJsonBody<ProbeRequest>`.
 */
export function encodeJsonBody<T>(value: T): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/**
 * The JSON object a message body holds.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` naming `what` when it is not one.
 */
export function decodeJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(decoder.decode(bytes)) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} is not a JSON object`);
}

/**
 * The message a JSON body holds, checked against `schema`.
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL`: `<what> is not a JSON object`,
 * or `<what> has the wrong shape: <field> <problem>`.
 */
export function decodeJsonBody<S extends AnySchema>(
  schema: S,
  bytes: Uint8Array,
  what: string,
): v.InferOutput<S> {
  return parseOrThrow(schema, decodeJsonObject(bytes, what), '', (_field, _problem, said) => {
    return new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} has the wrong shape: ${said}`);
  });
}

/** A wire message of the current version whose body is `value` as JSON (typed per message, like {@link encodeJsonBody}). */
export function encodeJsonMessage<T>(value: T): WireMessage {
  return {
    headers: { [WIRE_HEADERS.version]: String(PROTOCOL_VERSION) },
    body: encodeJsonBody(value),
  };
}

/**
 * The message a versioned JSON wire message holds (see {@link decodeJsonBody}).
 * @throws FlotillaError `FLOTILLA_ERR_PROTOCOL` for another version, too.
 */
export function decodeJsonMessage<S extends AnySchema>(
  schema: S,
  msg: WireMessage,
  what: string,
): v.InferOutput<S> {
  if (msg.headers[WIRE_HEADERS.version] !== String(PROTOCOL_VERSION)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} has an unsupported version`);
  }
  return decodeJsonBody(schema, msg.body, what);
}

/**
 * The decoder of one kind of message that travels as a JSON body: see
 * {@link decodeJsonBody}; `what` names it in errors (e.g. `probe request`).
 */
export function jsonBodyDecoder<S extends AnySchema>(
  schema: S,
  what: string,
): (bytes: Uint8Array) => v.InferOutput<S> {
  return (bytes) => decodeJsonBody(schema, bytes, what);
}

/**
 * The decoder of one kind of versioned wire message with a JSON body: see
 * {@link decodeJsonMessage}; `what` names it in errors (e.g. `heartbeat`).
 */
export function jsonMessageDecoder<S extends AnySchema>(
  schema: S,
  what: string,
): (msg: WireMessage) => v.InferOutput<S> {
  return (msg) => decodeJsonMessage(schema, msg, what);
}
