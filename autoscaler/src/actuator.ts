/**
 * What carries out the autoscaler's decisions. The {@link Autoscaler} calls
 * {@link Actuator.scale} on every evaluation while this scheduler replica
 * holds the region's leader lease, and {@link Actuator.standby} when it stops
 * holding it.
 */
export interface Actuator {
  /** Short name for logs and metrics, e.g. `local` or `kubernetes`. */
  readonly kind: string;
  /**
   * Run `desired` workers. Called on every evaluation (idempotent); the
   * actuator applies its own floor and ceiling.
   */
  scale(desired: number): void;
  /** Another replica actuates now: stop following decisions. */
  standby(): void;
  /** Stops the actuator (a local one drains the workers it started). Idempotent. */
  close(): Promise<void>;
  /**
   * The workers this actuator runs that Prometheus can scrape (a local
   * supervisor's processes); absent or empty when it starts none itself.
   */
  scrapeTargets?(): ScrapeTarget[];
}

/** A worker process to scrape: where its admin server listens. */
export interface ScrapeTarget {
  /** Its admin URL (`http://host:port`), serving `/metrics`. */
  adminUrl: string;
  /** Its worker id (`w-…`) when known. */
  workerId: string | undefined;
  /** The supervisor's label for it (`#3 pid 4242`). */
  label: string;
  /** `ready`, or `draining` (still running its last renders). */
  state: 'ready' | 'draining';
}
