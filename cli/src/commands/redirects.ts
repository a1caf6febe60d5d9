/**
 * `flotilla redirects`: an environment's redirect table (EdgeJS bulk
 * redirects), answered by the shield itself.
 *
 * @module
 */
import type { ControlApi, RedirectTableRecord } from '@flotilla/deploy';
import { InvalidOptionError, REDIRECT_BATCH_ROWS, type RedirectRow } from '@flotilla/protocol';
import { parseRedirectFile } from '../redirects-file.ts';
import {
  appName,
  type ControlCommand,
  type Ctx,
  needEnv,
  out,
  progress,
  readOptionFile,
  str,
  subcommand,
} from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { booleanOptions, stringOptions } from './option-table.ts';

const USAGE =
  'usage: flotilla redirects import <file.csv|file.json> --env <name> [--merge] | ' +
  'flotilla redirects list --env <name> [--limit <n>] [--offset <n>] | flotilla redirects clear --env <name>';

/** A whole number of at least 0 from option `--<name>`. */
function count(ctx: Ctx, name: string, fallback: number): number {
  const raw = str(ctx.values, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw)) {
    throw new InvalidOptionError(`--${name}`, `must be a whole number, got "${raw}"`);
  }
  return Number(raw);
}

/** Bytes of JSON one import request carries at most (a NATS message is 1 MiB by default). */
const BATCH_BYTES = 512 * 1024;

/** The rows in batches of at most `REDIRECT_BATCH_ROWS` rows and {@link BATCH_BYTES} of JSON. */
export function* redirectBatches(
  rows: RedirectRow[],
): Generator<{ start: number; batch: RedirectRow[] }> {
  let start = 0;
  while (start < rows.length) {
    let end = start;
    let bytes = 0;
    while (end < rows.length && end - start < REDIRECT_BATCH_ROWS) {
      const size = Buffer.byteLength(JSON.stringify(rows[end])) + 1;
      if (end > start && bytes + size > BATCH_BYTES) break;
      bytes += size;
      end++;
    }
    yield { start, batch: rows.slice(start, end) };
    start = end;
  }
}

function rowText(row: RedirectRow): string {
  return `${row.from} -> ${row.to} ${row.status}${row.forwardQueryString ? ' (forwards the query)' : ''}`;
}

async function importTable(
  ctx: Ctx,
  cp: ControlApi,
  app: string,
  env: string,
  rows: RedirectRow[],
): Promise<number> {
  const parts: string[] = [];
  for (const { start, batch } of redirectBatches(rows)) {
    const staged = await cp.stageRedirects(app, env, batch, start + 1);
    parts.push(staged.part);
    progress(ctx, `redirects: sent ${start + batch.length}/${rows.length} rows`);
  }
  const merge = ctx.values.merge === true;
  const table: RedirectTableRecord = await cp.commitRedirects(
    app,
    env,
    parts,
    merge ? 'merge' : 'replace',
  );
  return out(
    ctx,
    table,
    `${app} ${env}: ${table.count} redirects (${merge ? `${rows.length} merged in` : 'table replaced'}), answered by the shields\n`,
  );
}

/** `flotilla redirects`, for the command table. */
export const redirectsCommand: ControlCommand = {
  name: 'redirects',
  usage: `  flotilla redirects import <file.csv|file.json> --env <name> [--app <name>] [--merge]
      replace (--merge: add to) the environment's redirect table: CSV with the header
      from,to,status,forwardQueryString (status default 301), or a JSON array of those objects;
      every row is checked first (bad rows are listed with their line, nothing is imported);
      the shields answer matching paths themselves, without a render
  flotilla redirects list --env <name> [--app <name>] [--limit <n>] [--offset <n>]
      the table's rows, sorted by path (--limit default 50)
  flotilla redirects clear --env <name> [--app <name>]      remove the table
`,
  options: { ...booleanOptions('merge'), ...stringOptions('limit', 'offset') },
  run: async (ctx) => {
    // The command line (and the file) are checked before connecting.
    const sub = subcommand(ctx, ['import', 'list', 'clear'], USAGE);
    const env = needEnv(ctx);
    if (sub === 'import') {
      const file = ctx.positionals[1];
      if (file === undefined || ctx.positionals.length > 2) {
        throw new InvalidOptionError('redirects import', `takes one file (${USAGE})`);
      }
      const rows = parseRedirectFile(file, await readOptionFile('<file>', file, 'redirects')).map(
        (r) => r.row,
      );
      const app = await appName(ctx);
      progress(ctx, `redirects: ${rows.length} rows of ${file} checked`);
      return withFleet(ctx, (cp) => importTable(ctx, cp, app, env, rows));
    }
    if (ctx.positionals.length > 1) {
      throw new InvalidOptionError(`redirects ${sub}`, 'takes no file');
    }
    const app = await appName(ctx);
    if (sub === 'clear') {
      return withFleet(ctx, async (cp) => {
        const { removed } = await cp.clearRedirects(app, env);
        return out(ctx, { removed }, `${app} ${env}: redirect table cleared (${removed} rows)\n`);
      });
    }
    const limit = count(ctx, 'limit', 50);
    const offset = count(ctx, 'offset', 0);
    return withFleet(ctx, async (cp) => {
      const page = await cp.redirects(app, env, offset, limit);
      if (page.table === null) {
        return out(ctx, page, `${app} ${env}: no redirect table\n`);
      }
      const shown = page.rows.map((row) => `${rowText(row)}\n`).join('');
      const rest = page.table.count - offset - page.rows.length;
      return out(
        ctx,
        page,
        `${app} ${env}: ${page.table.count} redirects (imported ${page.table.updatedAt})\n${shown}` +
          (rest > 0 ? `… ${rest} more (--offset ${offset + page.rows.length})\n` : ''),
      );
    });
  },
};
