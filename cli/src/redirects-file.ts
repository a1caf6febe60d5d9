/**
 * Reads a redirect file for `flotilla redirects import`: CSV (a header row
 * of `from,to,status,forwardQueryString`, as Edgio's redirect export has;
 * `status` and `forwardQueryString` may be left out) or JSON (an array of
 * `{ from, to, status?, forwardQueryString? }`). Every row is checked, and
 * every problem is reported with its line, before anything is sent.
 *
 * @module
 */
import { InvalidOptionError, type RedirectRow, redirectRowProblem } from '@flotilla/protocol';
import { parse } from 'csv-parse/sync';

/** A row of the file and the line it starts on. */
export interface RedirectFileRow {
  line: number;
  row: RedirectRow;
}

/** Problems listed in the error at most (the count names the rest). */
const MAX_LISTED = 20;

/** CSV columns, by lower-cased header (the row field each fills). */
const CSV_COLUMNS: Record<string, keyof RedirectRow> = {
  from: 'from',
  to: 'to',
  status: 'status',
  forwardquerystring: 'forwardQueryString',
};

const TRUE = new Set(['true', 'yes', '1']);
const FALSE = new Set(['false', 'no', '0', '']);

/**
 * The rows of a redirect file (`path` names it in messages; `.json` files,
 * or text starting with `[`, are JSON, anything else CSV).
 * @throws InvalidOptionError listing every bad row as `<path>:<line>: <problem>`
 */
export function parseRedirectFile(path: string, text: string): RedirectFileRow[] {
  const json = /\.json$/i.test(path) || /^\s*\[/.test(text);
  const items = json ? jsonItems(path, text) : csvItems(path, text);
  const problems: string[] = [];
  const rows: RedirectFileRow[] = [];
  const seen = new Map<string, number>();
  for (const { line, value, problem: early } of items) {
    const problem = early ?? redirectRowProblem(value);
    if (problem !== undefined) {
      problems.push(`${path}:${line}: ${problem}`);
      continue;
    }
    const row = value as RedirectRow;
    const first = seen.get(row.from);
    if (first !== undefined) {
      problems.push(`${path}:${line}: from ${row.from} is already redirected on line ${first}`);
      continue;
    }
    seen.set(row.from, line);
    rows.push({
      line,
      row: {
        from: row.from,
        to: row.to,
        status: row.status ?? 301,
        forwardQueryString: row.forwardQueryString ?? false,
      },
    });
  }
  if (problems.length > 0) {
    const listed = problems.slice(0, MAX_LISTED).join('\n  ');
    const more =
      problems.length > MAX_LISTED ? `\n  … and ${problems.length - MAX_LISTED} more` : '';
    throw new InvalidOptionError(
      '<file>',
      `${problems.length} bad row${problems.length === 1 ? '' : 's'}, nothing imported:\n  ${listed}${more}`,
    );
  }
  if (rows.length === 0) throw new InvalidOptionError('<file>', `${path} has no redirect rows`);
  return rows;
}

interface Item {
  line: number;
  value: unknown;
  problem?: string;
}

function csvItems(path: string, text: string): Item[] {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    records = parse(text, {
      bom: true,
      info: true,
      trim: true,
      skip_empty_lines: true,
      relax_column_count: true,
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
  } catch (err) {
    const line = (err as { lines?: number }).lines;
    throw new InvalidOptionError(
      '<file>',
      `${path}${line ? `:${line}` : ''}: not valid CSV: ${(err as Error).message}`,
    );
  }
  const [header, ...body] = records;
  if (header === undefined) throw new InvalidOptionError('<file>', `${path} is empty`);
  const fields = header.record.map((name) => CSV_COLUMNS[name.toLowerCase()]);
  const unknown = header.record.filter((_, i) => fields[i] === undefined);
  if (unknown.length > 0 || !fields.includes('from') || !fields.includes('to')) {
    throw new InvalidOptionError(
      '<file>',
      `${path}:${header.info.lines}: the header row must name the columns from, to and optionally status, forwardQueryString` +
        (unknown.length > 0 ? ` (unknown: ${unknown.join(', ')})` : ''),
    );
  }
  return body.map(({ record, info }) => {
    const line = info.lines;
    if (record.length > fields.length) {
      return {
        line,
        value: undefined,
        problem: `has ${record.length} columns, the header ${fields.length}`,
      };
    }
    const value: Record<string, unknown> = {};
    for (const [i, field] of fields.entries()) {
      const cell = record[i] ?? '';
      if (field === 'status') {
        if (cell === '') continue;
        value.status = /^\d+$/.test(cell) ? Number(cell) : cell;
      } else if (field === 'forwardQueryString') {
        const lower = cell.toLowerCase();
        if (TRUE.has(lower)) value.forwardQueryString = true;
        else if (FALSE.has(lower)) value.forwardQueryString = false;
        else
          return {
            line,
            value,
            problem: `forwardQueryString must be true or false (got "${cell}")`,
          };
      } else if (field !== undefined) {
        value[field] = cell;
      }
    }
    return { line, value };
  });
}

function jsonItems(path: string, text: string): Item[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new InvalidOptionError('<file>', `${path}: not valid JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(parsed)) {
    throw new InvalidOptionError(
      '<file>',
      `${path}: must be a JSON array of { from, to, status?, forwardQueryString? }`,
    );
  }
  const lines = itemLines(text);
  return parsed.map((value, i) => ({ line: lines[i] ?? 1, value }));
}

/** The line each item of a top-level JSON array starts on (1-based). */
function itemLines(text: string): number[] {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let inString = false;
  let expectItem = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (depth === 1 && expectItem && c !== undefined && !/[\s,\]]/.test(c)) {
      lines.push(line);
      expectItem = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectItem = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectItem = true;
  }
  return lines;
}
