export {
  ERROR_CODES,
  type ErrorCode,
  type ErrorKind,
  errorKind,
  errorStatus,
  FlotillaError,
  type FlotillaErrorOptions,
  fromWireError,
  InvalidOptionError,
  isErrorCode,
  isWireError,
  knownWireError,
  toWireError,
  type WireError,
} from './errors.ts';
export { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from './heartbeat.ts';
export { isLost, lostAfterMs, MISSED_HEARTBEATS } from './liveness.ts';
export { nonEmptyString, nonNegativeInt, positiveInt, required } from './options.ts';
export {
  APP_NAME,
  BACKEND_NAME,
  DEPLOYMENT_ID,
  describeValue,
  HEX64,
  HOST,
  HTTP_TOKEN,
  isSubjectToken,
  normalizeOrigin,
  SUBJECT_TOKEN,
  UNSAFE_HEADER_VALUE,
} from './patterns.ts';
export {
  decodePrewarmRequest,
  decodeRegionPrewarmResult,
  decodeWorkerPrewarmResult,
  encodePrewarm,
  PREWARM_SUBJECT,
  type PrewarmRequest,
  prewarmQueue,
  type RegionPrewarmResult,
  type WorkerPrewarmResult,
} from './prewarm.ts';
export {
  decodeProbeRequest,
  decodeProbeResult,
  encodeProbeRequest,
  encodeProbeResult,
  PROBE_SUBJECT,
  type ProbeRequest,
  type ProbeResult,
  probeQueue,
} from './probe.ts';
export {
  decodePurgeAck,
  decodePurgeRequest,
  decodeShieldBeat,
  encodePurgeAck,
  encodePurgeRequest,
  encodeShieldBeat,
  MAX_PURGE_TEXT,
  normalizePurgeUrl,
  PURGE_SUBJECT,
  type PurgeAck,
  type PurgeRequest,
  type PurgeSelector,
  purgeSelectorProblem,
  SHIELD_HEARTBEAT_SUBJECT,
  type ShieldBeat,
} from './purge.ts';
export {
  decodeSchedulerAck,
  decodeSchedulerBeat,
  encodeSchedulerAck,
  encodeSchedulerBeat,
  type SchedulerAck,
  type SchedulerBeat,
} from './scheduler-messages.ts';
export { type RegionSubjects, regionSubjects } from './subjects.ts';
export { nextTraceparent, traceIdOf } from './trace.ts';
export {
  decodeRenderRequest,
  decodeRenderResult,
  encodeRenderRequest,
  encodeRenderResult,
  PROTOCOL_VERSION,
  type RenderRequest,
  type RenderResult,
  type StageTimings,
  TOP_LEVEL_STAGES,
  topLevelMs,
  WIRE_HEADERS,
  type WireMessage,
} from './wire.ts';
