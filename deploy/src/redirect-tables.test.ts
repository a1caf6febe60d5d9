import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane.ts';
import { MemoryControlStore } from './memory-control-store.ts';
import type { RedirectTableRecord } from './redirect-tables.ts';
import { tempDir, writeBuild } from './test-builds.ts';

let root: { path: string; remove(): Promise<void> };
beforeEach(async () => {
  root = await tempDir('flotilla-redirects-');
});
afterEach(async () => {
  await root.remove();
});

/** A control plane where shop's production environment exists. */
async function plane(): Promise<ControlPlane> {
  const cp = new ControlPlane({ store: new MemoryControlStore() });
  const build = await writeBuild(root.path, 'a', { code: "export default 'a';\n" });
  await cp.publish({ dir: build.dir }, { env: 'production' });
  return cp;
}

const rows = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ from: `/old/${from + i}`, to: `/new/${from + i}` }));

describe('redirect tables', () => {
  it('stages batches and commits them as one table, sorted by path, with defaults', async () => {
    const cp = await plane();
    const first = await cp.stageRedirects('shop', 'production', rows(3));
    const second = await cp.stageRedirects('shop', 'production', [
      { from: '/a', to: 'https://example.com/a', status: 302, forwardQueryString: true },
    ]);
    expect(first.rows).toBe(3);
    const table = await cp.commitRedirects('shop', 'production', [first.part, second.part]);
    expect(table).toMatchObject({ app: 'shop', env: 'production', count: 4 });
    const page = await cp.redirects('shop', 'production');
    expect(page.rows.map((r) => r.from)).toEqual(['/a', '/old/0', '/old/1', '/old/2']);
    expect(page.rows[1]).toEqual({
      from: '/old/0',
      to: '/new/0',
      status: 301,
      forwardQueryString: false,
    });
    expect((await cp.redirects('shop', 'production', 1, 2)).rows.map((r) => r.from)).toEqual([
      '/old/0',
      '/old/1',
    ]);
  });

  it('replaces by default, merges on request (a later row for a path wins)', async () => {
    const cp = await plane();
    const a = await cp.stageRedirects('shop', 'production', rows(2));
    await cp.commitRedirects('shop', 'production', [a.part]);
    const b = await cp.stageRedirects('shop', 'production', [{ from: '/old/1', to: '/moved' }]);
    await cp.commitRedirects('shop', 'production', [b.part], 'merge');
    const merged = await cp.redirects('shop', 'production');
    expect(merged.rows.map((r) => `${r.from}>${r.to}`)).toEqual(['/old/0>/new/0', '/old/1>/moved']);
    await cp.commitRedirects('shop', 'production', [b.part]);
    expect((await cp.redirects('shop', 'production')).table?.count).toBe(1);
  });

  it('refuses a bad row by its number, and an environment that does not exist', async () => {
    const cp = await plane();
    await expect(
      cp.stageRedirects('shop', 'production', [...rows(2), { from: 'x', to: '/y' }], 2001),
    ).rejects.toThrow('row 2003: from must be a path starting with "/" (got "x")');
    const part = await cp.stageRedirects('shop', 'staging', rows(1));
    await expect(cp.commitRedirects('shop', 'staging', [part.part])).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
    await expect(cp.commitRedirects('shop', 'production', ['0'.repeat(64)])).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
  });

  it('clears a table, and watchers see every change', async () => {
    const cp = await plane();
    const seen: RedirectTableRecord[][] = [];
    const watch = cp.watchRedirects((tables) => seen.push(tables));
    await watch.initial;
    expect(seen).toEqual([[]]);
    const part = await cp.stageRedirects('shop', 'production', rows(5));
    await cp.commitRedirects('shop', 'production', [part.part]);
    await expect.poll(() => seen.at(-1)?.[0]?.count).toBe(5);
    expect(await cp.redirectRows(seen.at(-1)?.[0] as RedirectTableRecord)).toHaveLength(5);
    expect(await cp.clearRedirects('shop', 'production')).toEqual({ removed: 5 });
    await expect.poll(() => seen.at(-1)).toEqual([]);
    expect(await cp.redirects('shop', 'production')).toEqual({ table: null, rows: [] });
    expect(await cp.clearRedirects('shop', 'production')).toEqual({ removed: 0 });
    watch.stop();
  });
});
