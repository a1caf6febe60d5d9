import type { LogFn } from '@flotilla/protocol';
import type { Actuator } from './actuator.ts';
import { fn } from './options.ts';

/** Options of {@link KubernetesActuator}. */
export interface KubernetesActuatorOptions {
  /** Structured log sink (one line per change of the desired count). @default no logging */
  log?: LogFn;
}

/**
 * The Kubernetes actuator starts nothing: the leader's decision is exported
 * as `flotilla_autoscaler_desired_workers{region}` (the {@link Autoscaler}
 * sets it only while holding the lease), and KEDA or an HPA on an external
 * metric scales the worker Deployment to it, e.g. the KEDA Prometheus
 * trigger query `max(flotilla_autoscaler_desired_workers{region="us-east"})`
 * with `threshold: "1"` on a Deployment whose replicas equal the value.
 *
 * It remembers the last count it was told, for health output and tests.
 */
export class KubernetesActuator implements Actuator {
  readonly kind = 'kubernetes';
  readonly #log: LogFn;
  #desired: number | undefined;

  constructor(options: KubernetesActuatorOptions = {}) {
    this.#log = fn('log', options?.log, () => {});
  }

  /** The count last exported while leading, or `undefined` when on standby. */
  get desired(): number | undefined {
    return this.#desired;
  }

  scale(desired: number): void {
    if (desired !== this.#desired) {
      this.#log({ msg: 'desired workers exported', from: this.#desired ?? null, to: desired });
      this.#desired = desired;
    }
  }

  standby(): void {
    this.#desired = undefined;
  }

  async close(): Promise<void> {
    this.#desired = undefined;
  }
}
