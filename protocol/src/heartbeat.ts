import * as v from 'valibot';
import { encodeJsonMessage, jsonMessageDecoder } from './json-body.ts';
import { got, subjectToken } from './schema.ts';

const count = () => {
  const message = got('must be a number ≥ 0');
  return v.pipe(v.number(message), v.finite(message), v.minValue(0, message));
};

/** What a worker announces about itself about once a second. */
export const HeartbeatSchema = v.object({
  /** Unique id of the worker process; a subject token (it becomes one: a malformed one would poison every pick). */
  workerId: subjectToken(),
  /** Renders running or queued on the worker now. */
  inFlight: count(),
  /** CPU slots: renders the worker runs guest code for at once (threads × per-thread concurrency). */
  capacity: count(),
  /**
   * Of `inFlight`, the renders that only wait on backend `fetch` calls now:
   * they hold no CPU slot. Absent (an older worker): every render holds one.
   */
  ioWaiting: v.optional(count()),
  /**
   * Renders the worker holds in flight at once, running or waiting on I/O
   * (≥ `capacity`). Absent (an older worker): `capacity`.
   */
  ioSlots: v.optional(count()),
  /** Deployments with a warm isolate on at least one thread. */
  warm: v.array(v.string(), got('must be a list of deployment ids')),
  /** True once the worker stops taking work (SIGTERM). */
  draining: v.boolean(got('must be true or false')),
  /** Heartbeat interval the worker uses, so schedulers know when it is late. */
  intervalMs: count(),
  /** Event-loop utilisation of the worker's main thread since the last heartbeat, 0–1. */
  elu: v.optional(v.pipe(count(), v.maxValue(1, got('must be at most 1')))),
  /** Heap used by the worker's live isolates, in bytes. */
  heapBytes: v.optional(count()),
});

/** What a worker announces about itself about once a second ({@link HeartbeatSchema}). */
export type Heartbeat = v.InferOutput<typeof HeartbeatSchema>;

/** Encodes a heartbeat for the transport. */
export const encodeHeartbeat = encodeJsonMessage<Heartbeat>;
/** Decodes a heartbeat; throws `FLOTILLA_ERR_PROTOCOL` when it is malformed. */
export const decodeHeartbeat = jsonMessageDecoder(HeartbeatSchema, 'heartbeat');
