import {
  decodePrewarmRequest,
  decodeWorkerPrewarmResult,
  encodePrewarm,
  type LogFn,
  PREWARM_SUBJECT,
  prewarmQueue,
  type RegionPrewarmResult,
  required,
  toWireError,
  type WorkerPrewarmResult,
} from '@flotilla/protocol';
import type { Transport } from '@flotilla/transport';
import { RegionResponder } from './region-responder.ts';

/** Options of {@link PrewarmRelay}. */
export interface PrewarmRelayOptions {
  transport: Transport;
  /** Region this scheduler serves. */
  region: string;
  /** Live workers of the region (the scheduler's registry). */
  workers: () => string[];
  /** Structured log sink. @default discard */
  log?: LogFn;
}

/**
 * Pre-warm on promote, region side: one scheduler per region (queue group)
 * takes the request and has every live worker of the region load the
 * deployment on each of its threads and render a synthetic request; it
 * answers once all have (or the request's time is up), worker by worker.
 */
export class PrewarmRelay extends RegionResponder {
  readonly #workers: () => string[];
  readonly #log: LogFn;

  constructor(options: PrewarmRelayOptions) {
    super(options?.transport, options?.region, PREWARM_SUBJECT, prewarmQueue);
    this.#workers = required('workers', options.workers);
    this.#log = options.log ?? (() => {});
  }

  /** Pre-warms on every live worker of the region; never throws. */
  async prewarm(body: Uint8Array): Promise<RegionPrewarmResult> {
    let request: ReturnType<typeof decodePrewarmRequest>;
    try {
      request = decodePrewarmRequest(body);
    } catch (err) {
      this.#log({ msg: 'bad prewarm request', error: toWireError(err) });
      return { region: this.region, workers: [] };
    }
    const started = performance.now();
    const workers = await Promise.all(
      this.#workers().map(async (workerId): Promise<WorkerPrewarmResult> => {
        try {
          const reply = await this.transport.request(
            this.subjects.workerPrewarm(workerId),
            { headers: {}, body: encodePrewarm(request) },
            { timeoutMs: request.timeoutMs + 1000 },
          );
          return decodeWorkerPrewarmResult(reply.body);
        } catch (err) {
          return { workerId, ok: false, ms: 0, error: toWireError(err) };
        }
      }),
    );
    this.#log({
      msg: 'prewarmed',
      deployment: request.deploymentId,
      environment: request.environment,
      workers: workers.length,
      failed: workers.filter((w) => !w.ok).length,
      ms: Math.round(performance.now() - started),
    });
    return { region: this.region, workers };
  }

  protected override async answer(body: Uint8Array): Promise<Uint8Array> {
    return encodePrewarm(await this.prewarm(body));
  }
}
