/**
 * The environments of the apps: each points at one deployment (promote,
 * rollback) and keeps its settings (regions, backend overrides, variables,
 * a split test). Every change is a compare-and-set update of its record,
 * retried when another writer got in first; watchers see each change as
 * the store pushes it.
 */

import { routeDestinations } from '@flotilla/manifest';
import { FlotillaError, InvalidOptionError, type LogFn } from '@flotilla/protocol';
import { byKey, type Catalog } from './catalog.ts';
import type { ControlStore } from './control-store.ts';
import {
  checkPatch,
  checkRewraps,
  type EnvironmentPatch,
  type SecretRewraps,
  checkToken as token,
} from './environment-patch.ts';
import { CONFLICT_CODE, StoreConflictError } from './errors.ts';
import {
  decodeEnvironment,
  type EnvironmentRecord,
  encodeEnvironment,
  environmentKey,
  MAX_HISTORY,
  type SplitEntry,
} from './records.ts';

/** A running {@link ControlPlane.watchEnvironments}. */
export interface EnvironmentWatch {
  /** Resolves after the first call of `onChange` (the current list). */
  readonly initial: Promise<void>;
  /** Stops the watch. Idempotent. */
  stop(): void;
}

/** What {@link Environments} works with. */
export interface EnvironmentsOptions {
  store: ControlStore;
  catalog: Catalog;
  /** Attempts of a compare-and-set update before giving up with `FLOTILLA_ERR_CONFLICT`. */
  casAttempts: number;
  log: LogFn;
}

/** Promotes, rolls back, configures and watches environments. */
export class Environments {
  /** The control plane whose environments it keeps: its store, catalog and settings. */
  readonly #plane: EnvironmentsOptions;

  constructor(options: EnvironmentsOptions) {
    this.#plane = options;
  }

  /** See {@link ControlPlane.promote}. */
  async promote(deploymentId: string, env: string): Promise<EnvironmentRecord> {
    token('env', env);
    const deployment = await this.#plane.catalog.deployment(deploymentId);
    if (deployment === undefined) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `deployment ${deploymentId} does not exist`,
      );
    }
    const record = await this.#updateEnvironment(deployment.app, env, async (current, now) => {
      if (current === undefined) {
        return {
          app: deployment.app,
          env,
          deploymentId,
          history: [],
          backends: {},
          vars: {},
          secrets: {},
          updatedAt: now,
        };
      }
      if (current.deploymentId === deploymentId) return current;
      const history = [current.deploymentId, ...current.history].filter(
        (h, i, all) => h !== deploymentId && all.indexOf(h) === i,
      );
      // A promote sends every visitor to the deployment: it ends a split test.
      const { split: _ended, splitRules: _rules, ...rest } = current;
      return { ...rest, deploymentId, history: history.slice(0, MAX_HISTORY), updatedAt: now };
    });
    this.#plane.log({ msg: 'promoted', app: deployment.app, env, deploymentId });
    return record;
  }

  /** See {@link ControlPlane.rollback}. */
  async rollback(app: string, env: string): Promise<EnvironmentRecord> {
    token('app', app);
    token('env', env);
    const record = await this.#updateEnvironment(app, env, async (current, now) => {
      if (current === undefined) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `app ${app} has no environment ${env}: nothing to roll back`,
        );
      }
      const history = [...current.history];
      // Skip deployments deleted since (deleteDeployment prunes histories, this is a safety net).
      while (
        history.length > 0 &&
        (await this.#plane.catalog.deployment(history[0] as string)) === undefined
      ) {
        history.shift();
      }
      const previous = history.shift();
      if (previous === undefined) {
        throw new FlotillaError(
          CONFLICT_CODE,
          `environment ${env} of ${app} has no earlier deployment to roll back to (it serves ${current.deploymentId}, its first)`,
        );
      }
      // Like a promote, a rollback sends every visitor to one deployment: it ends a split test.
      const { split: _ended, splitRules: _rules, ...rest } = current;
      return { ...rest, deploymentId: previous, history, updatedAt: now };
    });
    this.#plane.log({ msg: 'rolled back', app, env, deploymentId: record.deploymentId });
    return record;
  }

  /** See {@link ControlPlane.configure}. */
  async configure(app: string, env: string, patch: EnvironmentPatch): Promise<EnvironmentRecord> {
    token('app', app);
    token('env', env);
    const p = checkPatch(patch);
    for (const [name, envelope] of Object.entries(p.secrets ?? {})) {
      if (envelope !== null && typeof p.vars?.[name] === 'string') {
        throw new InvalidOptionError(`secrets.${name}`, 'is also set as a plain variable');
      }
    }
    if (p.split) await this.#checkSplitDeployments(app, p.split);
    for (const [i, rule] of (p.splitRules ?? []).entries()) {
      await this.#checkSplitDeployments(app, rule.split, `splitRules[${i}].split`);
    }
    return this.#updateEnvironment(app, env, async (current, now) => {
      if (current === undefined) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `app ${app} has no environment ${env}: promote a deployment to it first`,
        );
      }
      const next: Omit<EnvironmentRecord, 'revision'> = {
        ...current,
        backends: { ...current.backends },
        vars: { ...current.vars },
        secrets: { ...current.secrets },
        updatedAt: now,
      };
      for (const field of ['primaryRegion', 'secondaryRegion'] as const) {
        const value = p[field];
        if (value === null) delete next[field];
        else if (value !== undefined) next[field] = value;
      }
      if (next.primaryRegion !== undefined && next.primaryRegion === next.secondaryRegion) {
        // A new primary that was the secondary: it no longer needs a standby of itself.
        if (p.secondaryRegion === undefined) delete next.secondaryRegion;
        else
          throw new InvalidOptionError(
            'secondaryRegion',
            `must differ from primaryRegion (${next.primaryRegion})`,
          );
      }
      if (p.backends !== undefined) {
        const manifest = await this.#plane.catalog.manifest(current.deploymentId);
        const declared = Object.keys(manifest.backends);
        for (const [name, origin] of Object.entries(p.backends)) {
          if (!Object.hasOwn(manifest.backends, name)) {
            throw new InvalidOptionError(
              `backends.${name}`,
              `is not a backend of ${current.deploymentId} (its manifest declares ${declared.length === 0 ? 'none' : declared.join(', ')})`,
            );
          }
          if (origin === null) delete next.backends[name];
          else next.backends[name] = origin;
        }
      }
      for (const [name, value] of Object.entries(p.vars ?? {})) {
        if (value === null) delete next.vars[name];
        else {
          next.vars[name] = value;
          delete next.secrets[name];
        }
      }
      for (const [name, envelope] of Object.entries(p.secrets ?? {})) {
        if (envelope === null) delete next.secrets[name];
        else {
          next.secrets[name] = envelope;
          delete next.vars[name];
        }
      }
      if (p.split === null) delete next.split;
      else if (p.split !== undefined) {
        if (!p.split.some((e) => e.deploymentId === current.deploymentId)) {
          throw new InvalidOptionError(
            'split',
            `must include ${current.deploymentId}, the deployment environment ${env} of ${app} serves (promote another deployment first to leave it out)`,
          );
        }
        next.split = p.split.map((e) => ({ ...e }));
      }
      if (p.splitRules === null) delete next.splitRules;
      else if (p.splitRules !== undefined) next.splitRules = structuredClone(p.splitRules);
      return next;
    });
  }

  /** See {@link ControlPlane.rewrapSecrets}. */
  async rewrapSecrets(
    app: string,
    env: string,
    rewraps: SecretRewraps,
  ): Promise<{ environment: EnvironmentRecord; replaced: string[] }> {
    token('app', app);
    token('env', env);
    const r = checkRewraps(rewraps);
    let replaced: string[] = [];
    const environment = await this.#updateEnvironment(app, env, async (current, now) => {
      replaced = [];
      if (current === undefined) return undefined;
      const secrets = { ...current.secrets };
      for (const [name, { from, to }] of Object.entries(r)) {
        const stored = secrets[name];
        // Only the very envelope read: one set again meanwhile is newer than the rotation.
        if (stored && stored.ct === from.ct && stored.kid === from.kid && stored.epk === from.epk) {
          secrets[name] = to;
          replaced.push(name);
        }
      }
      return replaced.length === 0 ? current : { ...current, secrets, updatedAt: now };
    });
    return { environment, replaced };
  }

  /** See {@link ControlPlane.watchEnvironments}. */
  watch(onChange: (environments: EnvironmentRecord[]) => void): EnvironmentWatch {
    if (typeof onChange !== 'function')
      throw new InvalidOptionError('onChange', 'must be a function');
    const current = new Map<string, EnvironmentRecord>();
    let live = false;
    let stopped = false;
    const emit = (): void => {
      if (stopped) return;
      const list = [...current.values()].sort(byKey);
      try {
        onChange(list);
      } catch (err) {
        this.#plane.log({ msg: 'environment listener failed', error: (err as Error).message });
      }
    };
    const watch = this.#plane.store.watch('env.', (event) => {
      if (event.value === undefined) {
        if (!current.delete(event.key)) return;
      } else {
        try {
          current.set(event.key, decodeEnvironment(event.key, event.value, event.revision));
        } catch (err) {
          this.#plane.log({
            msg: 'bad environment record',
            key: event.key,
            error: (err as Error).message,
          });
          return;
        }
      }
      if (live) emit();
    });
    const initial = watch.initial.then(() => {
      live = true;
      emit();
    });
    initial.catch(() => {});
    return {
      initial,
      stop: () => {
        stopped = true;
        watch.stop();
      },
    };
  }

  /**
   * Environments of `app` that have deployment `id` in their rollback
   * history forget it (it was deleted). A failure is logged, not thrown.
   */
  async forget(app: string, id: string): Promise<void> {
    for (const env of await this.#plane.catalog.environments(app)) {
      if (!env.history.includes(id)) continue;
      await this.#updateEnvironment(env.app, env.env, async (current, now) =>
        current === undefined || !current.history.includes(id)
          ? current
          : { ...current, history: current.history.filter((h) => h !== id), updatedAt: now },
      ).catch((err: unknown) => {
        this.#plane.log({ msg: 'history prune failed', id, env: env.env, error: String(err) });
      });
    }
  }

  /**
   * Every deployment of a split exists and belongs to `app`, and every
   * destination named is one its router declares.
   */
  async #checkSplitDeployments(app: string, split: SplitEntry[], field = 'split'): Promise<void> {
    const records = await Promise.all(
      split.map((e) => this.#plane.catalog.deployment(e.deploymentId)),
    );
    for (const [i, entry] of split.entries()) {
      const record = records[i];
      if (record === undefined) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `deployment ${entry.deploymentId} of the split does not exist`,
        );
      }
      if (record.app !== app) {
        throw new InvalidOptionError(
          `${field}[${i}].deploymentId`,
          `${entry.deploymentId} is a deployment of ${record.app}, not of ${app}`,
        );
      }
      if (entry.destination !== undefined) {
        const declared = routeDestinations(
          (await this.#plane.catalog.manifest(entry.deploymentId)).routes,
        );
        if (!declared.includes(entry.destination)) {
          throw new InvalidOptionError(
            `${field}[${i}].destination`,
            `${entry.deploymentId} has no destination "${entry.destination}" (${declared.length === 0 ? 'its router declares none' : `it declares ${declared.join(', ')}`})`,
          );
        }
      }
    }
  }

  /**
   * Compare-and-set update of `env.<app>.<env>`: `change` gets the current
   * record (undefined when missing) and returns the next one (the same object
   * for "no change"); it runs again when another writer got in first.
   */
  async #updateEnvironment(
    app: string,
    env: string,
    change: (
      current: EnvironmentRecord | undefined,
      now: string,
    ) => Promise<Omit<EnvironmentRecord, 'revision'> | undefined>,
  ): Promise<EnvironmentRecord> {
    const key = environmentKey(app, env);
    let lastConflict: unknown;
    for (let attempt = 0; attempt < this.#plane.casAttempts; attempt++) {
      const entry = await this.#plane.store.get(key);
      const current = entry && decodeEnvironment(key, entry.value, entry.revision);
      const next = await change(current, new Date().toISOString());
      if (next === undefined) {
        throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `app ${app} has no environment ${env}`);
      }
      if (next === current && current !== undefined) return current;
      try {
        const revision =
          entry === undefined
            ? await this.#plane.store.create(key, encodeEnvironment(next))
            : await this.#plane.store.update(key, encodeEnvironment(next), entry.revision);
        return { ...next, revision };
      } catch (err) {
        if (!(err instanceof StoreConflictError)) throw err;
        lastConflict = err;
        // Back off a little (randomised) so racing writers spread out.
        await new Promise((r) => setTimeout(r, Math.random() * 5 * (attempt + 1)));
      }
    }
    throw new FlotillaError(
      CONFLICT_CODE,
      `environment ${env} of ${app} kept changing under ${this.#plane.casAttempts} attempts to update it; try again`,
      { cause: lastConflict },
    );
  }
}
