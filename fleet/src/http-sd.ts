/**
 * Prometheus HTTP service discovery (`http_sd_configs`) of the worker
 * processes a scheduler's local autoscaler runs: they listen on random admin
 * ports, so the scheduler lists them.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { ScrapeTarget } from '@flotilla/autoscaler';

/** One target group of Prometheus' `http_sd` format. */
export interface HttpSdGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Hosts a process listens on that a scraper cannot connect to. */
const UNSPECIFIED = new Set(['0.0.0.0', '[::]', '::']);

/**
 * The `http_sd` answer for `targets`: one group per worker, labelled with
 * `region`, `flotilla_role="worker"`, the `flotilla_scheduler` running it,
 * and `__meta_flotilla_worker` (its id) and `__meta_flotilla_state` for
 * relabelling. A worker listening on every interface (`0.0.0.0`) is listed
 * under the host name Prometheus reached the scheduler with.
 */
export function httpSdGroups(
  targets: readonly ScrapeTarget[],
  context: { region: string; schedulerId: string; request?: IncomingMessage },
): HttpSdGroup[] {
  const asked = context.request?.headers.host;
  const askedHost = asked ? new URL(`http://${asked}`).hostname : undefined;
  const groups: HttpSdGroup[] = [];
  for (const t of targets) {
    let url: URL;
    try {
      url = new URL(t.adminUrl);
    } catch {
      continue;
    }
    const host = UNSPECIFIED.has(url.hostname) && askedHost ? askedHost : url.hostname;
    groups.push({
      targets: [`${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${url.port}`],
      labels: {
        region: context.region,
        flotilla_role: 'worker',
        flotilla_scheduler: context.schedulerId,
        ...(t.workerId ? { __meta_flotilla_worker: t.workerId } : {}),
        __meta_flotilla_state: t.state,
      },
    });
  }
  return groups;
}
