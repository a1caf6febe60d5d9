import * as v from 'valibot';
import { decodeJsonMessage, encodeJsonMessage } from './json-body.ts';
import { got, subjectToken } from './schema.ts';
import type { WireMessage } from './wire.ts';

/** What a scheduler announces about once a second, so shields can tell when it dies. */
export const SchedulerBeatSchema = v.object({
  schedulerId: subjectToken(),
  intervalMs: v.pipe(v.number(), v.gtValue(0, got('must be a positive number of ms'))),
});

/** What a scheduler announces about once a second ({@link SchedulerBeatSchema}). */
export type SchedulerBeat = v.InferOutput<typeof SchedulerBeatSchema>;

/** A scheduler's word that it took request `requestId`. */
export const SchedulerAckSchema = v.object({
  requestId: v.string(),
  schedulerId: subjectToken(),
});

/** A scheduler's word that it took request `requestId` ({@link SchedulerAckSchema}). */
export type SchedulerAck = v.InferOutput<typeof SchedulerAckSchema>;

/** Encodes a scheduler heartbeat. */
export function encodeSchedulerBeat(beat: SchedulerBeat): WireMessage {
  return encodeJsonMessage(beat);
}

/** Decodes a scheduler heartbeat; throws `FLOTILLA_ERR_PROTOCOL` when malformed. */
export function decodeSchedulerBeat(msg: WireMessage): SchedulerBeat {
  return decodeJsonMessage(SchedulerBeatSchema, msg, 'scheduler heartbeat');
}

/** Encodes a scheduler's acknowledgement of a request. */
export function encodeSchedulerAck(ack: SchedulerAck): WireMessage {
  return encodeJsonMessage(ack);
}

/** Decodes a scheduler's acknowledgement; throws `FLOTILLA_ERR_PROTOCOL` when malformed. */
export function decodeSchedulerAck(msg: WireMessage): SchedulerAck {
  return decodeJsonMessage(SchedulerAckSchema, msg, 'scheduler ack');
}
