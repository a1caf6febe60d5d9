import { type RegionSubjects, regionSubjects, required } from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';

/**
 * A request/reply service of the region that one scheduler per region
 * answers (its subject in a per-region queue group): {@link RegionProbe},
 * {@link PrewarmRelay}. It answers from {@link start} until {@link close}.
 */
export abstract class RegionResponder {
  /** Region this scheduler serves. */
  readonly region: string;
  protected readonly transport: Transport;
  protected readonly subjects: RegionSubjects;
  readonly #subject: string;
  readonly #queue: string;
  #sub: Subscription | undefined;

  /**
   * @param queue - The queue group of `region` on `subject`.
   * @throws InvalidOptionError for a missing transport or a bad region name
   */
  constructor(
    transport: Transport | undefined,
    region: string,
    subject: string,
    queue: (region: string) => string,
  ) {
    this.transport = required('transport', transport);
    this.subjects = regionSubjects(region);
    this.region = region;
    this.#subject = subject;
    this.#queue = queue(region);
  }

  /** The reply body to the request body `body`; never throws. */
  protected abstract answer(body: Uint8Array): Promise<Uint8Array>;

  /** Starts answering. */
  start(): void {
    this.#sub ??= this.transport.serve(
      this.#subject,
      async (msg) => ({ headers: {}, body: await this.answer(msg.body) }),
      { queue: this.#queue },
    );
  }

  /** Stops answering (lets an answer in progress finish). */
  async close(): Promise<void> {
    await this.#sub?.drain();
    this.#sub = undefined;
  }
}
