import * as v from 'valibot';
import { encodeJsonMessage, jsonMessageDecoder } from './json-body.ts';
import { got, subjectToken } from './schema.ts';

/** What a scheduler announces about once a second, so shields can tell when it dies. */
export const SchedulerBeatSchema = v.object({
  schedulerId: subjectToken(),
  intervalMs: v.pipe(v.number(), v.gtValue(0, got('must be a positive number of ms'))),
});

/** What a scheduler announces about once a second ({@link SchedulerBeatSchema}). */
export type SchedulerBeat = v.InferOutput<typeof SchedulerBeatSchema>;
/** Encodes a scheduler heartbeat. */
export const encodeSchedulerBeat = encodeJsonMessage<SchedulerBeat>;
/** Decodes a scheduler heartbeat; throws `FLOTILLA_ERR_PROTOCOL` when malformed. */
export const decodeSchedulerBeat = jsonMessageDecoder(SchedulerBeatSchema, 'scheduler heartbeat');

/** A scheduler's word that it took request `requestId`. */
export const SchedulerAckSchema = v.object({
  requestId: v.string(),
  schedulerId: subjectToken(),
});

/** A scheduler's word that it took request `requestId` ({@link SchedulerAckSchema}). */
export type SchedulerAck = v.InferOutput<typeof SchedulerAckSchema>;

/** Encodes a scheduler's acknowledgement of a request. */
export const encodeSchedulerAck = encodeJsonMessage<SchedulerAck>;
/** Decodes a scheduler's acknowledgement; throws `FLOTILLA_ERR_PROTOCOL` when malformed. */
export const decodeSchedulerAck = jsonMessageDecoder(SchedulerAckSchema, 'scheduler ack');
