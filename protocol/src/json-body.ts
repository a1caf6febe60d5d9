import { FlotillaError } from './errors.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A message body holding `value` as JSON. */
export function encodeJsonBody(value: unknown): Uint8Array {
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
