import {
  decodePrewarmRequest,
  decodeWorkerPrewarmResult,
  encodePrewarm,
  PREWARM_SUBJECT,
  prewarmQueue,
  type RegionPrewarmResult,
  type RegionSubjects,
  regionSubjects,
  required,
  toWireError,
  type WorkerPrewarmResult,
} from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';

/** Options of {@link PrewarmRelay}. */
export interface PrewarmRelayOptions {
  transport: Transport;
  /** Region this scheduler serves. */
  region: string;
  /** Live workers of the region (the scheduler's registry). */
  workers: () => string[];
  /** Structured log sink. @default discard */
  log?: (line: Record<string, unknown>) => void;
}

/**
 * Pre-warm on promote, region side: one scheduler per region (queue group)
 * takes the request and has every live worker of the region load the
 * deployment on each of its threads and render a synthetic request; it
 * answers once all have (or the request's time is up), worker by worker.
 */
export class PrewarmRelay {
  readonly region: string;
  readonly #transport: Transport;
  readonly #subjects: RegionSubjects;
  readonly #workers: () => string[];
  readonly #log: (line: Record<string, unknown>) => void;
  #sub: Subscription | undefined;

  constructor(options: PrewarmRelayOptions) {
    this.#transport = required('transport', options?.transport);
    this.#subjects = regionSubjects(options.region);
    this.region = options.region;
    this.#workers = required('workers', options.workers);
    this.#log = options.log ?? (() => {});
  }

  /** Starts answering pre-warm requests. */
  start(): void {
    this.#sub ??= this.#transport.serve(
      PREWARM_SUBJECT,
      async (msg) => ({ headers: {}, body: encodePrewarm(await this.prewarm(msg.body)) }),
      { queue: prewarmQueue(this.region) },
    );
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
          const reply = await this.#transport.request(
            this.#subjects.workerPrewarm(workerId),
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

  /** Stops answering (lets a pre-warm in progress finish). */
  async close(): Promise<void> {
    await this.#sub?.drain();
    this.#sub = undefined;
  }
}
