import { FlotillaError } from './errors.ts';
import { isSubjectToken } from './subjects.ts';
import { PROTOCOL_VERSION, WIRE_HEADERS, type WireMessage } from './wire.ts';

/** What a worker announces about itself about once a second. */
export interface Heartbeat {
  /** Unique id of the worker process. */
  workerId: string;
  /** Renders running or queued on the worker now. */
  inFlight: number;
  /** Renders the worker accepts at once (threads × per-thread concurrency). */
  capacity: number;
  /** Deployments with a warm isolate on at least one thread. */
  warm: string[];
  /** True once the worker stops taking work (SIGTERM). */
  draining: boolean;
  /** Heartbeat interval the worker uses, so schedulers know when it is late. */
  intervalMs: number;
  /** Event-loop utilisation of the worker's main thread since the last heartbeat, 0–1. */
  elu?: number;
  /** Heap used by the worker's live isolates, in bytes. */
  heapBytes?: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes a heartbeat for the transport. */
export function encodeHeartbeat(hb: Heartbeat): WireMessage {
  return {
    headers: { [WIRE_HEADERS.version]: String(PROTOCOL_VERSION) },
    body: encoder.encode(JSON.stringify(hb)),
  };
}

/** Decodes a heartbeat; throws `FLOTILLA_ERR_PROTOCOL` when it is malformed. */
export function decodeHeartbeat(msg: WireMessage): Heartbeat {
  if (msg.headers[WIRE_HEADERS.version] !== String(PROTOCOL_VERSION)) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'heartbeat has an unsupported version');
  }
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(msg.body));
  } catch {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'heartbeat is not valid JSON');
  }
  const hb = v as Partial<Heartbeat>;
  if (
    typeof hb !== 'object' ||
    hb === null ||
    // The id becomes a NATS subject token: a malformed one would poison every pick.
    !isSubjectToken(hb.workerId) ||
    !isCount(hb.inFlight) ||
    !isCount(hb.capacity) ||
    !Array.isArray(hb.warm) ||
    !hb.warm.every((d) => typeof d === 'string') ||
    typeof hb.draining !== 'boolean' ||
    !isCount(hb.intervalMs) ||
    (hb.elu !== undefined && !(isCount(hb.elu) && hb.elu <= 1)) ||
    (hb.heapBytes !== undefined && !isCount(hb.heapBytes))
  ) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', 'heartbeat has the wrong shape');
  }
  return hb as Heartbeat;
}

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}
