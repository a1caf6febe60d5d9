/**
 * What a bundle's `fetch` may reach: the deployment's declared backends
 * (name → origin), which a render may re-point but never extend, and the
 * mapping of a guest URL (`backend://<name>/…`, or an absolute URL at a
 * declared origin) to one of them. Anything else is refused with a message
 * naming the URL, the reason and the declared backends.
 */
import { validateBackends } from '@flotilla/protocol/schema';
import { GuestFailure } from './fetch-errors.ts';

/** Override sets of backends kept validated per isolate (environments of a deployment are few). */
const MAX_CACHED_OVERRIDES = 32;

/** A URL for messages: cut, with any credentials masked. */
export function shown(raw: string): string {
  const cut = raw.length > 200 ? `${raw.slice(0, 200)}…` : raw;
  return cut.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@');
}

/** `backends` as a string, for messages: `api → https://api.example, cms → …`. */
function listed(backends: Readonly<Record<string, string>>): string {
  return Object.entries(backends)
    .map(([n, o]) => `${n} → ${o}`)
    .join(', ');
}

/** A guest URL resolved to a backend. */
export interface BackendTarget {
  /** The backend's declared name. */
  backend: string;
  url: URL;
}

/**
 * The backends of one deployment. The declared ones (its manifest's) fix
 * the names a bundle may use; a render may re-point declared names to
 * other origins (an environment's backends, see
 * {@link BackendPolicy.withOverrides}), never add a name.
 */
export class BackendPolicy {
  readonly deploymentId: string;
  /** The declared backends: name → normalized origin. */
  readonly backends: Readonly<Record<string, string>>;
  /** Validated override sets (by their entries), oldest first. */
  readonly #overrides = new Map<string, Readonly<Record<string, string>>>();

  /** @param backends already validated (`validateBackends` of `@flotilla/protocol/schema`). */
  constructor(deploymentId: string, backends: Record<string, string>) {
    this.deploymentId = deploymentId;
    this.backends = Object.freeze({ ...backends });
  }

  /**
   * The backends of one render: the declared ones, with the names in
   * `overrides` re-pointed to the origins given there (an environment's
   * backends). Each origin is validated as in `validateBackends` (`@flotilla/protocol/schema`); a
   * name the deployment does not declare is refused, since a render may
   * re-point a backend but never add one. Validated sets are cached, so a
   * render with the same overrides as an earlier one costs a lookup.
   *
   * @param fail builds the error thrown for a bad entry, given the option's
   * name (`backends.api`) and the problem.
   */
  withOverrides(
    overrides: unknown,
    fail: (option: string, problem: string) => Error,
  ): Readonly<Record<string, string>> {
    if (overrides === undefined || overrides === null) return this.backends;
    // Keyed by the entries, when they are all strings (anything else goes to validation).
    let key: string | undefined;
    if (typeof overrides === 'object' && !Array.isArray(overrides)) {
      const entries = Object.entries(overrides);
      if (entries.every(([, origin]) => typeof origin === 'string')) key = JSON.stringify(entries);
    }
    const cached = key === undefined ? undefined : this.#overrides.get(key);
    if (cached !== undefined) return cached;
    const valid = validateBackends(overrides, fail);
    let changed = false;
    for (const [name, origin] of Object.entries(valid)) {
      if (!Object.hasOwn(this.backends, name)) {
        const declared = listed(this.backends);
        throw fail(
          `backends.${name}`,
          `is not a backend of deployment ${this.deploymentId}: a render may re-point the backends its manifest declares, never add one (${declared === '' ? 'it declares none' : `declared: ${declared}`})`,
        );
      }
      if (this.backends[name] !== origin) changed = true;
    }
    const merged = changed ? Object.freeze({ ...this.backends, ...valid }) : this.backends;
    if (key !== undefined) {
      this.#overrides.set(key, merged);
      if (this.#overrides.size > MAX_CACHED_OVERRIDES) {
        const oldest = this.#overrides.keys().next().value;
        if (oldest !== undefined) this.#overrides.delete(oldest);
      }
    }
    return merged;
  }

  /** The declared-backends part of a refusal message (with the render's origins). */
  declared(backends: Readonly<Record<string, string>>): string {
    const shownList = listed(backends);
    return shownList === '' ? 'it declares no backends' : `declared: ${shownList}`;
  }

  #refuse(backends: Readonly<Record<string, string>>, raw: string, why: string): GuestFailure {
    return new GuestFailure(
      `fetch to ${shown(raw)} refused: ${why} (${this.declared(backends)})`,
      'refused',
    );
  }

  /**
   * Maps a guest URL to one of the render's `backends`: `backend://<name>/<path>`
   * or an absolute http(s) URL whose origin is exactly one of their origins.
   */
  resolve(backends: Readonly<Record<string, string>>, raw: string): BackendTarget {
    const refuse = (why: string) => this.#refuse(backends, raw, why);
    if (raw === '') throw refuse('empty URL');
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase();
    if (scheme === 'backend') {
      const m = /^backend:\/\/([^/?#\\]*)(.*)$/is.exec(raw);
      if (!m) throw refuse('a backend URL has the form backend://<name>/<path>');
      const host = (m[1] ?? '').toLowerCase();
      if (host.includes('@')) throw refuse('URLs with credentials are not allowed');
      if (host.includes(':')) {
        throw refuse('a backend URL takes no port (the backend declares its origin)');
      }
      const origin = Object.hasOwn(backends, host) ? backends[host] : undefined;
      if (origin === undefined) {
        throw refuse(`deployment ${this.deploymentId} declares no backend named "${host}"`);
      }
      let rest = (m[2] ?? '').replace(/#.*$/s, '');
      if (!rest.startsWith('/')) rest = `/${rest}`;
      let url: URL;
      try {
        url = new URL(`${origin}${rest}`);
      } catch {
        throw refuse('the path does not form a valid URL');
      }
      if (url.origin !== origin) throw refuse('the path leaves the backend');
      return { backend: host, url };
    }
    const found = this.declaredUrl(backends, raw);
    if (typeof found === 'string') throw refuse(found);
    return found;
  }

  /** An absolute http(s) URL at one of `backends`' origins, or why it is refused. */
  declaredUrl(
    backends: Readonly<Record<string, string>>,
    raw: string,
    base?: URL,
  ): BackendTarget | string {
    let url: URL;
    try {
      url = new URL(raw, base);
    } catch {
      return 'not an absolute URL (use backend://<name>/<path> or a declared origin)';
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return `the ${url.protocol} scheme is not allowed: only backend://<name>/… and http(s) URLs of declared backends`;
    }
    if (url.username !== '' || url.password !== '') {
      return 'URLs with credentials are not allowed';
    }
    url.hash = '';
    for (const [name, origin] of Object.entries(backends)) {
      if (url.origin === origin) return { backend: name, url };
    }
    return `${url.origin} is not a declared backend of deployment ${this.deploymentId}`;
  }
}
