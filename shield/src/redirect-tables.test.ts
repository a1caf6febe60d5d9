import type { RedirectRow } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import { type RedirectSource, type RedirectTableRef, RedirectTables } from './redirect-tables.ts';

/** A control plane's redirect tables in memory: announce tables, serve their rows. */
class TableSource implements RedirectSource {
  readonly rows = new Map<string, RedirectRow[] | Error>();
  readonly #gates = new Map<string, Promise<void>>();
  #listener: ((tables: RedirectTableRef[]) => void) | undefined;
  #tables: RedirectTableRef[] = [];

  watchRedirects(onChange: (tables: RedirectTableRef[]) => void) {
    this.#listener = onChange;
    onChange(this.#tables);
    return { initial: Promise.resolve(), stop: () => (this.#listener = undefined) };
  }

  async redirectRows(table: RedirectTableRef): Promise<RedirectRow[]> {
    await this.#gates.get(table.hash);
    const rows = this.rows.get(table.hash);
    if (rows instanceof Error) throw rows;
    return rows ?? [];
  }

  /** Makes loads of `hash` wait until the returned function is called. */
  hold(hash: string): () => void {
    let release = () => {};
    this.#gates.set(hash, new Promise<void>((resolve) => (release = resolve)));
    return release;
  }

  announce(tables: Array<RedirectTableRef & { rows?: RedirectRow[] | Error }>): void {
    for (const t of tables) if (t.rows) this.rows.set(t.hash, t.rows);
    this.#tables = tables.map(({ app, env, count, hash }) => ({ app, env, count, hash }));
    this.#listener?.(this.#tables);
  }
}

const row = (from: string, to: string): RedirectRow => ({
  from,
  to,
  status: 301,
  forwardQueryString: false,
});
const table = (hash: string, rows: RedirectRow[] | Error, env = 'production') => ({
  app: 'shop',
  env,
  count: rows instanceof Error ? 0 : rows.length,
  hash,
  rows,
});

describe('RedirectTables', () => {
  it('loads the current tables at start and looks a path up per environment', async () => {
    const source = new TableSource();
    source.announce([table('h1', [row('/a', '/b')]), table('h2', [row('/a', '/c')], 'staging')]);
    const tables = new RedirectTables({ source });
    await tables.start();
    expect(tables.lookup('shop', 'production', '/a')?.to).toBe('/b');
    expect(tables.lookup('shop', 'staging', '/a')?.to).toBe('/c');
    expect(tables.lookup('shop', 'production', '/b')).toBeUndefined();
    expect(tables.lookup('blog', 'production', '/a')).toBeUndefined();
    tables.stop();
  });

  it('swaps a table whole when a new one is announced, and drops a removed one', async () => {
    const source = new TableSource();
    source.announce([table('h1', [row('/a', '/b')])]);
    const tables = new RedirectTables({ source });
    await tables.start();
    let changes = 0;
    tables.changed.add(() => changes++);
    source.announce([table('h3', [row('/x', '/y')])]);
    await expect.poll(() => tables.lookup('shop', 'production', '/x')?.to).toBe('/y');
    expect(tables.lookup('shop', 'production', '/a')).toBeUndefined();
    expect(changes).toBe(1);
    source.announce([]);
    expect(tables.lookup('shop', 'production', '/x')).toBeUndefined();
    expect(tables.size).toBe(0);
    expect(changes).toBe(2);
  });

  it('keeps the table it has when a new one cannot be read, and never lets an older load win', async () => {
    const logged: unknown[] = [];
    const source = new TableSource();
    source.announce([table('h1', [row('/a', '/one')])]);
    const tables = new RedirectTables({ source, log: (line) => logged.push(line) });
    await tables.start();
    source.announce([table('bad', new Error('blob missing'))]);
    await expect.poll(() => logged.length).toBeGreaterThan(0);
    expect(tables.lookup('shop', 'production', '/a')?.to).toBe('/one');

    const release = source.hold('slow');
    source.announce([table('slow', [row('/a', '/two')])]);
    source.announce([table('fast', [row('/a', '/three')])]);
    await expect.poll(() => tables.lookup('shop', 'production', '/a')?.to).toBe('/three');
    release();
    // The held load finishes in microtasks once released: all run before the next macrotask.
    await new Promise((resolve) => setImmediate(resolve));
    expect(tables.lookup('shop', 'production', '/a')?.to).toBe('/three');
  });

  it('refuses a source without the control plane’s methods', () => {
    expect(() => new RedirectTables({ source: {} as RedirectSource })).toThrow(
      /source.*watchRedirects\(\) and redirectRows\(\)/,
    );
  });
});
