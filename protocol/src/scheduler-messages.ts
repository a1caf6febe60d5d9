import { FlotillaError } from './errors.ts';
import { isSubjectToken } from './subjects.ts';
import { PROTOCOL_VERSION, WIRE_HEADERS, type WireMessage } from './wire.ts';

/** What a scheduler announces about once a second, so shields can tell when it dies. */
export interface SchedulerBeat {
  schedulerId: string;
  intervalMs: number;
}

/** A scheduler's word that it took request `requestId`. */
export interface SchedulerAck {
  requestId: string;
  schedulerId: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encode(value: unknown): WireMessage {
  return {
    headers: { [WIRE_HEADERS.version]: String(PROTOCOL_VERSION) },
    body: encoder.encode(JSON.stringify(value)),
  };
}

function decode(msg: WireMessage, what: string): Record<string, unknown> {
  if (msg.headers[WIRE_HEADERS.version] !== String(PROTOCOL_VERSION)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} has an unsupported version`);
  }
  try {
    const v = JSON.parse(decoder.decode(msg.body)) as unknown;
    if (typeof v === 'object' && v !== null) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what} is not a JSON object`);
}

/** Encodes a scheduler heartbeat. */
export function encodeSchedulerBeat(beat: SchedulerBeat): WireMessage {
  return encode(beat);
}

/** Decodes a scheduler heartbeat; throws `FLOTILLA_ERR_PROTOCOL` when malformed. */
export function decodeSchedulerBeat(msg: WireMessage): SchedulerBeat {
  const v = decode(msg, 'scheduler heartbeat');
  if (!isSubjectToken(v.schedulerId) || typeof v.intervalMs !== 'number' || !(v.intervalMs > 0)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'scheduler heartbeat has the wrong shape');
  }
  return { schedulerId: v.schedulerId as string, intervalMs: v.intervalMs };
}

/** Encodes a scheduler's acknowledgement of a request. */
export function encodeSchedulerAck(ack: SchedulerAck): WireMessage {
  return encode(ack);
}

/** Decodes a scheduler's acknowledgement; throws `FLOTILLA_ERR_PROTOCOL` when malformed. */
export function decodeSchedulerAck(msg: WireMessage): SchedulerAck {
  const v = decode(msg, 'scheduler ack');
  if (typeof v.requestId !== 'string' || !isSubjectToken(v.schedulerId)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'scheduler ack has the wrong shape');
  }
  return { requestId: v.requestId, schedulerId: v.schedulerId as string };
}
