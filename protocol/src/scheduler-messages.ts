import * as v from 'valibot';
import { encodeJsonMessage, jsonMessageDecoder } from './json-body.ts';
import { got, subjectToken } from './schema.ts';

/** What a scheduler announces about once a second, so shields can tell when it dies. */
export const SchedulerBeatSchema = v.object({
  schedulerId: subjectToken(),
  intervalMs: v.pipe(v.number(), v.gtValue(0, got('must be a positive number of ms'))),
  /**
   * Renders the region's live workers hold in flight at once, as this
   * scheduler sees them (their in-flight bounds, summed). With `queue`, it
   * lets a shield refuse misses past what the region can take at once,
   * before sending them. Absent (an older scheduler): no such limit.
   */
  slots: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  /** Misses this scheduler queues at most while every worker is full. */
  queue: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
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
