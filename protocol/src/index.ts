export {
  ERROR_CODES,
  type ErrorCode,
  errorKind,
  errorStatus,
  FlotillaError,
  fromWireError,
  InvalidOptionError,
  toWireError,
  type WireError,
  type WireErrorCode,
} from './errors.ts';
export { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from './heartbeat.ts';
export { environmentHost } from './hosts.ts';
export { MAX_BUNDLE_BYTES } from './limits.ts';
export { isLost } from './liveness.ts';
export {
  decodeTailAnswer,
  decodeTailRequest,
  encodeTailAnswer,
  encodeTailRequest,
  LOG_SOURCES,
  type LogEntry,
  type LogSource,
  MAX_RECENT_LINES,
  MAX_TAIL_LEASE_MS,
  type TailAnswer,
  type TailBatch,
  type TailFilter,
  TailFilterSchema,
  type TailRequest,
  tailMatcher,
} from './log-tail.ts';
export {
  DEFAULT_REQUEST_TIMEOUT_MS,
  type LogFn,
  type LogLine,
  nonEmptyString,
  nonNegativeInt,
  positiveInt,
  required,
  subjectTokenOption,
  WALL_LIMIT_MARGIN_MS,
  wallLimitBelow,
  wallLimitFor,
} from './options.ts';
export { isSubjectToken } from './patterns.ts';
export {
  decodePrerenderRequest,
  decodeShieldPrerenderResult,
  encodePrerender,
  MAX_PRERENDER_PATHS,
  PRERENDER_SUBJECT_PATTERN,
  type PrerenderPathResult,
  PrerenderPathSchema,
  type PrerenderRequest,
  prerenderSubject,
  type ShieldPrerenderResult,
} from './prerender.ts';
export {
  decodePrewarmRequest,
  decodeRegionPrewarmResult,
  decodeWorkerPrewarmResult,
  encodePrewarm,
  PREWARM_SUBJECT,
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
  normalizePurgeUrl,
  PURGE_SUBJECT,
  type PurgeAck,
  type PurgeSelector,
  PurgeSelectorSchema,
  purgeSelectorProblem,
  SHIELD_HEARTBEAT_SUBJECT,
  type ShieldBeat,
} from './purge.ts';
export {
  MAX_REDIRECT_ROWS,
  parseRedirectRow,
  REDIRECT_BATCH_ROWS,
  type RedirectRow,
  type RedirectRowInput,
  RedirectRowSchema,
  redirectLocation,
  redirectRowProblem,
  TABLE_REDIRECT_STATUSES,
} from './redirects.ts';
export {
  decodeSchedulerAck,
  decodeSchedulerBeat,
  encodeSchedulerAck,
  encodeSchedulerBeat,
  type SchedulerBeat,
} from './scheduler-messages.ts';
export {
  MAX_SPLIT_RULES,
  MAX_SPLIT_TARGETS,
  RuleSplitSchema,
  SPLIT_DEVICES,
  type SplitCriteria,
  SplitCriteriaSchema,
  type SplitRule,
  SplitRuleSchema,
  SplitRulesSchema,
  type SplitTarget,
  SplitTargetSchema,
  splitTargetLabel,
} from './split-rules.ts';
export {
  appOfLogSubject,
  CONTROL_FLEET_APP,
  CONTROL_QUEUE,
  CONTROL_SUBJECT_PREFIX,
  controlSubject,
  LOG_SUBJECT_PATTERNS,
  logLinesSubject,
  logTailSubject,
  type RegionSubjectPatterns,
  type RegionSubjects,
  regionSubjectPatterns,
  regionSubjects,
  SUBJECT_ROOT,
} from './subjects.ts';
export { nextTraceparent, traceIdOf } from './trace.ts';
export {
  decodeRenderRequest,
  decodeRenderResult,
  encodeRenderRequest,
  encodeRenderResult,
  type RenderRequest,
  type RenderResult,
  type StageTimings,
  topLevelMs,
  WIRE_HEADERS,
  type WireMessage,
} from './wire.ts';
