/**
 * Environments' redirect tables in the control plane. A table's rows are a
 * content-addressed blob (JSON, sorted by `from`); its record
 * `redirects.<app>.<env>` names the blob, so a shield watching `redirects.`
 * swaps a whole table at once. An import sends its rows in batches
 * ({@link RedirectTables.stage}, each stored as a blob of its own) and then
 * commits them in one write ({@link RedirectTables.commit}), so no shield
 * ever sees half an import.
 *
 * @module
 */
import {
  FlotillaError,
  InvalidOptionError,
  type LogFn,
  MAX_REDIRECT_ROWS,
  parseRedirectRow,
  REDIRECT_BATCH_ROWS,
  type RedirectRow,
  redirectRowProblem,
} from '@flotilla/protocol';
import { HEX64 } from '@flotilla/protocol/patterns';
import { parseOrThrow } from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { blobName, readBlob } from './blobs.ts';
import { sha256Hex } from './build-files.ts';
import type { ControlStore } from './control-store.ts';
import { checkToken } from './environment-patch.ts';
import { decodeJson, encodeJson, environmentKey } from './records.ts';

/** The record of an environment's redirect table (`redirects.<app>.<env>`). */
export const RedirectTableRecordSchema = v.object({
  app: v.string(),
  env: v.string(),
  /** Rows in the table. */
  count: v.number(),
  /** sha256 of the rows' blob (JSON), hex. */
  hash: v.pipe(v.string(), v.regex(HEX64)),
  bytes: v.number(),
  /** ISO 8601 time of the import. */
  updatedAt: v.string(),
});

/** The record of an environment's redirect table ({@link RedirectTableRecordSchema}). */
export type RedirectTableRecord = v.InferOutput<typeof RedirectTableRecordSchema>;

/** What {@link RedirectTables.stage} stored. */
export interface StagedRedirects {
  /** sha256 of the staged rows: pass it to {@link RedirectTables.commit}. */
  part: string;
  rows: number;
}

/** A page of a table ({@link RedirectTables.list}). */
export interface RedirectTablePage {
  table: RedirectTableRecord | null;
  rows: RedirectRow[];
}

/** KV key of an environment's redirect table. */
export function redirectTableKey(app: string, env: string): string {
  return `redirects.${app}.${env}`;
}

const RowsSchema = v.array(v.unknown());

function decodeRecord(key: string, value: Uint8Array): RedirectTableRecord {
  return parseOrThrow(RedirectTableRecordSchema, decodeJson(key, value), '', (_f, _p, said) => {
    return new FlotillaError(
      'FLOTILLA_ERR_INTERNAL',
      `control store key ${key} is not a redirect table: ${said}`,
    );
  });
}

/** Imports, lists, clears and watches redirect tables. */
export class RedirectTables {
  readonly #store: ControlStore;
  readonly #log: LogFn;

  constructor(store: ControlStore, log: LogFn) {
    this.#store = store;
    this.#log = log;
  }

  /**
   * Checks a batch of rows (at most {@link REDIRECT_BATCH_ROWS}) and stores
   * it as a blob. `firstRow` (1-based) numbers the rows in messages.
   * @throws InvalidOptionError naming the first bad row and what is wrong
   */
  async stage(app: string, env: string, rows: unknown[], firstRow = 1): Promise<StagedRedirects> {
    checkToken('app', app);
    checkToken('env', env);
    if (!Array.isArray(rows)) throw new InvalidOptionError('rows', 'must be an array');
    if (rows.length > REDIRECT_BATCH_ROWS) {
      throw new InvalidOptionError(
        'rows',
        `must be at most ${REDIRECT_BATCH_ROWS} per request, got ${rows.length}`,
      );
    }
    const parsed = rows.map((row, i) => {
      const problem = redirectRowProblem(row);
      if (problem !== undefined) {
        throw new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', `row ${firstRow + i}: ${problem}`);
      }
      return parseRedirectRow(row);
    });
    const bytes = encodeJson(parsed);
    const part = sha256Hex(bytes);
    await this.#store.blobPut(blobName(part), bytes);
    return { part, rows: parsed.length };
  }

  /**
   * Makes the staged `parts` (in order) the table of `env`, or (`merge`)
   * adds them to the rows it has. A later row for the same `from` wins.
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an environment or a
   *   part that does not exist; InvalidOptionError past {@link MAX_REDIRECT_ROWS}
   */
  async commit(
    app: string,
    env: string,
    parts: string[],
    mode: 'replace' | 'merge' = 'replace',
  ): Promise<RedirectTableRecord> {
    checkToken('app', app);
    checkToken('env', env);
    if ((await this.#store.get(environmentKey(app, env))) === undefined) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `environment ${env} of ${app} does not exist (publish with --env ${env} first)`,
      );
    }
    const byFrom = new Map<string, RedirectRow>();
    if (mode === 'merge') {
      for (const row of (await this.list(app, env)).rows) byFrom.set(row.from, row);
    }
    for (const part of parts) {
      for (const row of await this.#rowsOf(part, `staged part ${part}`)) byFrom.set(row.from, row);
    }
    if (byFrom.size > MAX_REDIRECT_ROWS) {
      throw new InvalidOptionError(
        'rows',
        `a redirect table holds at most ${MAX_REDIRECT_ROWS} rows, this one would have ${byFrom.size}`,
      );
    }
    const rows = [...byFrom.values()].sort((a, b) => (a.from < b.from ? -1 : 1));
    const bytes = encodeJson(rows);
    const hash = sha256Hex(bytes);
    await this.#store.blobPut(blobName(hash), bytes);
    const record: RedirectTableRecord = {
      app,
      env,
      count: rows.length,
      hash,
      bytes: bytes.byteLength,
      updatedAt: new Date().toISOString(),
    };
    await this.#store.put(redirectTableKey(app, env), encodeJson(record));
    this.#log({ msg: 'redirect table imported', app, env, rows: rows.length });
    return record;
  }

  /** The table's record and rows `offset` to `offset + limit` (every row by default). */
  async list(
    app: string,
    env: string,
    offset = 0,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<RedirectTablePage> {
    checkToken('app', app);
    checkToken('env', env);
    const key = redirectTableKey(app, env);
    const entry = await this.#store.get(key);
    if (entry === undefined) return { table: null, rows: [] };
    const table = decodeRecord(key, entry.value);
    const rows = await this.rows(table);
    return { table, rows: rows.slice(offset, offset + limit) };
  }

  /** Removes the table of `env`. @returns how many rows it had */
  async clear(app: string, env: string): Promise<{ removed: number }> {
    checkToken('app', app);
    checkToken('env', env);
    const key = redirectTableKey(app, env);
    const entry = await this.#store.get(key);
    if (entry === undefined) return { removed: 0 };
    const { count } = decodeRecord(key, entry.value);
    await this.#store.delete(key);
    this.#log({ msg: 'redirect table cleared', app, env, rows: count });
    return { removed: count };
  }

  /** The rows of a table record. */
  rows(table: RedirectTableRecord): Promise<RedirectRow[]> {
    return this.#rowsOf(table.hash, `redirect table of ${table.app} ${table.env}`);
  }

  /**
   * Calls `onChange` with every table record once the current ones are
   * known, and again after every change.
   */
  watch(onChange: (tables: RedirectTableRecord[]) => void): {
    initial: Promise<void>;
    stop(): void;
  } {
    if (typeof onChange !== 'function') {
      throw new InvalidOptionError('onChange', 'must be a function');
    }
    const current = new Map<string, RedirectTableRecord>();
    let live = false;
    let stopped = false;
    const emit = (): void => {
      if (stopped) return;
      try {
        onChange([...current.values()]);
      } catch (err) {
        this.#log({ msg: 'redirect table listener failed', error: (err as Error).message });
      }
    };
    const watch = this.#store.watch('redirects.', (event) => {
      if (event.value === undefined) {
        if (!current.delete(event.key)) return;
      } else {
        try {
          current.set(event.key, decodeRecord(event.key, event.value));
        } catch (err) {
          this.#log({ msg: 'bad redirect table', key: event.key, error: (err as Error).message });
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

  async #rowsOf(hash: string, what: string): Promise<RedirectRow[]> {
    const bytes = await readBlob(this.#store, hash);
    if (bytes === undefined) {
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `${what} is missing from the blob store`);
    }
    const rows = v.parse(RowsSchema, decodeJson(blobName(hash), bytes));
    return rows.map((row) => parseRedirectRow(row));
  }
}
