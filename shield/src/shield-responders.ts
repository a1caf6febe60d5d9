/**
 * What a shield answers over NATS besides its traffic: purges and
 * revalidations (`flotilla purge`, the admin API's `POST /purge` and
 * `POST /revalidate`), heartbeats, the roster of live shields, and
 * prerenders at promote. Moved out of shield.ts, which keeps the request
 * path.
 *
 * @module
 */
import { environmentHost, FlotillaError, type LogFn, type PurgeSelector } from '@flotilla/protocol';
import type { Transport } from '@flotilla/transport';
import type { Registry } from 'prom-client';
import type { FleetPurge } from './admin-api.ts';
import type { EdgeCache } from './cache/edge-cache.ts';
import { PrerenderResponder } from './cache/prerender-responder.ts';
import { PurgeResponder } from './cache/purge-responder.ts';
import { ShieldRoster } from './cache/shield-roster.ts';
import { purgeThisShield, revalidateThroughListener } from './revalidation.ts';
import type { SiteDirectory } from './site-directory.ts';
import type { ShieldTiers } from './tiers/shield-tiers.ts';

/** Options of {@link ShieldResponders}. */
export interface ShieldRespondersOptions {
  transport: Transport;
  shieldId: string;
  region: string;
  /** The traffic listener's interface, and its port once bound. */
  host: string;
  port: () => number;
  timeoutMs: number;
  /** The shield's own revalidation token (`x-flotilla-revalidate`). */
  revalidateToken: string;
  /** Purges the whole fleet (`purgeFleet` of `@flotilla/deploy`); absent: this shield alone. */
  fleetPurge: FleetPurge | undefined;
  cache: EdgeCache | undefined;
  sites: SiteDirectory | undefined;
  tiers: ShieldTiers;
  registry: Registry;
  log: LogFn;
}

/** See the module. */
export class ShieldResponders {
  /** The purge the admin API runs: the fleet's, or this shield's alone. */
  readonly fleetPurge: FleetPurge;
  readonly #o: ShieldRespondersOptions;
  readonly #roster: ShieldRoster | undefined;
  #purge: PurgeResponder | undefined;
  #prerender: PrerenderResponder | undefined;

  constructor(options: ShieldRespondersOptions) {
    this.#o = options;
    const fleetPurge = options.fleetPurge;
    this.#roster = fleetPurge && options.cache ? new ShieldRoster(options.transport) : undefined;
    const me = { shieldId: options.shieldId, region: options.region };
    this.fleetPurge = fleetPurge
      ? (selector, o) => {
          // The roster knows who must answer at once: no second of listening first.
          const live = this.#roster?.live();
          return fleetPurge(selector, { ...o, ...(live ? { live } : {}) });
        }
      : (selector, o) => purgeThisShield(this.#purge, me, selector, o);
  }

  /** Starts answering purges (and heartbeating) and prerenders. Idempotent. */
  start(): void {
    const { cache, sites } = this.#o;
    if (cache && !this.#purge) {
      this.#purge = new PurgeResponder({
        transport: this.#o.transport,
        shieldId: this.#o.shieldId,
        region: this.#o.region,
        tier: this.#o.tiers.tier,
        purge: (selector) => cache.purgeDurably(selector),
        revalidate: (selector) => this.#revalidate(cache, selector),
        registry: this.#o.registry,
        log: this.#o.log,
      });
      this.#purge.start();
      this.#roster?.start();
    }
    if (cache && sites && !this.#prerender) {
      this.#prerender = new PrerenderResponder({
        transport: this.#o.transport,
        shieldId: this.#o.shieldId,
        region: this.#o.region,
        domain: sites.domain,
        pathsFor: (app, env, deploymentId, deadline) =>
          prerenderPaths(sites, app, env, deploymentId, deadline),
        host: this.#o.host,
        port: this.#o.port,
        log: this.#o.log,
      });
      this.#prerender.start();
    }
  }

  /**
   * A revalidation of `selector`'s URL. An edge renders nothing: it drops its
   * copies, and keeps none of the owner's older than now while the owner
   * renders (the next request after that gets the new one). Others render
   * through their own listener, every variant stored under the URL (see
   * `revalidateThroughListener`); a global member that does not own a key
   * leaves it to its owner (the cached request path drops its copy).
   */
  async #revalidate(
    cache: EdgeCache,
    selector: Extract<PurgeSelector, { kind: 'url' }>,
  ): Promise<{ revalidated: number; removed: number; notRevalidated?: string[] }> {
    if (this.#o.tiers.isEdge) {
      // Before the purge: a miss already on its way must not bring the old copy back.
      cache.expectNewTierCopy(selector.url, this.#o.timeoutMs);
      return { revalidated: 0, removed: await cache.purgeDurably(selector) };
    }
    const done = await revalidateThroughListener(
      {
        host: this.#o.host,
        port: this.#o.port(),
        url: selector.url,
        token: this.#o.revalidateToken,
        timeoutMs: this.#o.timeoutMs,
      },
      await cache.entriesOf(selector.url),
    );
    return {
      revalidated: done.stored,
      removed: 0,
      ...(done.notRevalidated.length > 0 ? { notRevalidated: done.notRevalidated } : {}),
    };
  }

  /** Stops the prerender responder (first, before the drain). */
  async closePrerender(): Promise<void> {
    await this.#prerender?.close();
  }

  /** Stops answering purges (a last `leaving` heartbeat) and following the roster. */
  async close(): Promise<void> {
    await this.#prerender?.close();
    await this.#purge?.close();
    await this.#roster?.close();
  }
}

/** The manifest's `prerender` paths, once this shield serves `deploymentId` in `env`. */
async function prerenderPaths(
  sites: SiteDirectory,
  app: string,
  env: string,
  deploymentId: string,
  deadline: number,
): Promise<string[]> {
  const host = environmentHost(app, env, sites.domain);
  for (;;) {
    const target = await sites.resolve(host, '/').catch(() => undefined);
    if (target?.deploymentId === deploymentId) return target.manifest.prerender ?? [];
    if (Date.now() >= deadline) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `${app} ${env} is not served with ${deploymentId} here (it serves ${target?.deploymentId ?? 'nothing'})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
