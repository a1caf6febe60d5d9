/**
 * The environments' redirect tables, held by the shield: each a map from
 * path to row, swapped whole as the control plane announces a new table,
 * so a request is answered by one lookup, without a render.
 *
 * @module
 */
import type { ServerResponse } from 'node:http';
import {
  InvalidOptionError,
  type LogFn,
  type RedirectRow,
  redirectLocation,
  required,
} from '@flotilla/protocol';

/** A table's record as the control plane announces it (`@flotilla/deploy`'s `RedirectTableRecord`). */
export interface RedirectTableRef {
  app: string;
  env: string;
  count: number;
  /** sha256 of the rows: a new hash is a new table. */
  hash: string;
}

/** Where the shield reads redirect tables: the control plane (`ControlPlane` has this shape). */
export interface RedirectSource {
  watchRedirects(onChange: (tables: RedirectTableRef[]) => void): {
    initial: Promise<void>;
    stop(): void;
  };
  redirectRows(table: RedirectTableRef): Promise<RedirectRow[]>;
}

/** Options of {@link RedirectTables}. */
export interface RedirectTablesOptions {
  source: RedirectSource;
  /** Structured log sink. @default discard */
  log?: LogFn;
}

interface Loaded {
  hash: string;
  byPath: Map<string, RedirectRow>;
}

const keyOf = (app: string, env: string) => `${app}\n${env}`;

/**
 * Every environment's redirect table, kept current by a watch on the
 * control plane.
 *
 * @example
 * const redirects = new RedirectTables({ source: controlPlane });
 * await redirects.start();
 * redirects.lookup('shop', 'production', '/old'); // the row, or undefined
 */
export class RedirectTables {
  readonly #source: RedirectSource;
  readonly #log: LogFn;
  readonly #tables = new Map<string, Loaded>();
  /** The latest announcement: a slower load of an older one never replaces a newer table. */
  #wanted = new Map<string, string>();
  #watch: { initial: Promise<void>; stop(): void } | undefined;
  /** Called after every change of a table (the shield forgets its memoised hits). */
  readonly changed = new Set<() => void>();
  #pending: Promise<void> = Promise.resolve();

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: RedirectTablesOptions) {
    required('options', options);
    const source = required('source', options.source);
    if (typeof source.watchRedirects !== 'function' || typeof source.redirectRows !== 'function') {
      throw new InvalidOptionError('source', 'must have watchRedirects() and redirectRows()');
    }
    this.#source = source;
    this.#log = options.log ?? (() => {});
  }

  /** Starts the watch; resolves once the current tables are loaded. */
  async start(): Promise<void> {
    if (this.#watch) return;
    this.#watch = this.#source.watchRedirects((tables) => {
      this.#pending = this.#apply(tables);
    });
    await this.#watch.initial;
    await this.#pending;
  }

  /** Stops the watch. Idempotent. */
  stop(): void {
    this.#watch?.stop();
  }

  /** The row redirecting `path` (no query) of environment `env` of `app`, if any. */
  lookup(app: string, env: string, path: string): RedirectRow | undefined {
    return this.#tables.get(keyOf(app, env))?.byPath.get(path);
  }

  /** Tables held (for tests and the index). */
  get size(): number {
    return this.#tables.size;
  }

  async #apply(tables: RedirectTableRef[]): Promise<void> {
    const wanted = new Map(tables.map((t) => [keyOf(t.app, t.env), t.hash]));
    this.#wanted = wanted;
    let removed = false;
    for (const key of [...this.#tables.keys()]) {
      if (!wanted.has(key)) removed = this.#tables.delete(key);
    }
    if (removed) this.#notify();
    await Promise.all(
      tables.map(async (table) => {
        const key = keyOf(table.app, table.env);
        if (this.#tables.get(key)?.hash === table.hash) return;
        try {
          const rows = await this.#source.redirectRows(table);
          if (this.#wanted.get(key) !== table.hash) return;
          this.#tables.set(key, {
            hash: table.hash,
            byPath: new Map(rows.map((row) => [row.from, row])),
          });
          this.#notify();
          this.#log({
            msg: 'redirect table loaded',
            app: table.app,
            env: table.env,
            rows: rows.length,
          });
        } catch (err) {
          this.#log({
            msg: 'redirect table not loaded',
            app: table.app,
            env: table.env,
            error: (err as Error).message,
          });
        }
      }),
    );
  }

  #notify(): void {
    for (const listener of this.changed) {
      try {
        listener();
      } catch (err) {
        this.#log({ msg: 'redirect table listener failed', error: (err as Error).message });
      }
    }
  }
}

/**
 * Answers with a redirect of the environment's table (`flotilla redirects
 * import`) when it has a row for `destination`'s path; true when answered.
 */
export function answerFromTable(
  redirects: RedirectTables,
  res: ServerResponse,
  destination: { app: string; environment?: string | undefined; path: string; prefix: string },
): boolean {
  if (destination.environment === undefined) return false;
  const at = destination.path.indexOf('?');
  const path = at === -1 ? destination.path : destination.path.slice(0, at);
  const row = redirects.lookup(destination.app, destination.environment, path);
  if (!row) return false;
  const query = at === -1 ? '' : destination.path.slice(at + 1);
  res.writeHead(row.status, {
    location: redirectLocation(row, query, destination.prefix),
    'content-length': '0',
    'x-flotilla-redirect': 'table',
  });
  res.end();
  return true;
}
