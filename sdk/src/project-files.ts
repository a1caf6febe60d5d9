/**
 * Reading a project's files for the build: paths as messages show them,
 * and JSON files whose syntax errors name the line and column. Node-only.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { BuildError } from './build-errors.ts';

/** A path as shown in messages: relative to the current directory when inside it. */
export function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/**
 * Reads and parses a JSON file (a leading BOM is ignored).
 *
 * @param prefix - Put before the messages, e.g. `flotilla build: `.
 * @returns The parsed value, or `undefined` when the file does not exist.
 * @throws BuildError `FLOTILLA_ERR_INVALID_OPTION` when the file cannot be
 * read or is not valid JSON (`<file>:<line>:<column>: invalid JSON: …`).
 */
export async function readJsonFile(file: string, prefix = ''): Promise<unknown> {
  const shown = displayPath(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BuildError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `${prefix}${shown}: cannot be read: ${(error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    const { line, column, reason } = locateJsonError(text, (error as Error).message);
    throw new BuildError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `${prefix}${shown}:${line}:${column}: invalid JSON: ${reason}`,
    );
  }
}

/** Line and column (1-based) of a JSON.parse failure, and its reason without V8's position suffix. */
function locateJsonError(
  text: string,
  message: string,
): { line: number; column: number; reason: string } {
  const reason = message
    .replace(/\s*\(line \d+ column \d+\)\s*$/, '')
    .replace(/\s+in JSON at position \d+.*$/, '')
    .replace(/^JSON\.parse: /, '');
  const lineColumn = /\(line (\d+) column (\d+)\)/.exec(message);
  if (lineColumn) {
    return { line: Number(lineColumn[1]), column: Number(lineColumn[2]), reason };
  }
  const position = /position (\d+)/.exec(message);
  const offset = position ? Number(position[1]) : text.length;
  const before = text.slice(0, offset).split('\n');
  return {
    line: before.length,
    column: (before[before.length - 1]?.length ?? 0) + 1,
    reason,
  };
}
