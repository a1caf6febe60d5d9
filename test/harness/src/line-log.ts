import type { Readable } from 'node:stream';

/** Longest partial line kept before it is cut into a line of its own. */
const MAX_LINE_CHARS = 64 * 1024;

/**
 * A bounded, line-oriented log fed by one or more streams (a child's stdout
 * and stderr). Keeps the last `maxLines` lines and tells listeners about each
 * new line.
 */
export class LineLog {
  readonly #maxLines: number;
  readonly #lines: string[] = [];
  readonly #listeners = new Set<(line: string) => void>();

  constructor(maxLines: number) {
    this.#maxLines = Math.max(1, maxLines);
  }

  /** Reads `stream` as UTF-8 text and adds each complete line (and the final partial one). */
  attach(stream: Readable): void {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      let newline = partial.indexOf('\n');
      while (newline !== -1) {
        this.add(partial.slice(0, newline).replace(/\r$/, ''));
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
      if (partial.length > MAX_LINE_CHARS) {
        this.add(partial);
        partial = '';
      }
    });
    stream.on('end', () => {
      if (partial !== '') this.add(partial);
      partial = '';
    });
    // A broken pipe must not crash the test process.
    stream.on('error', () => {});
  }

  /** Appends one line. */
  add(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#maxLines) {
      this.#lines.splice(0, this.#lines.length - this.#maxLines);
    }
    for (const listener of this.#listeners) listener(line);
  }

  /** The retained lines, oldest first. */
  lines(): readonly string[] {
    return this.#lines;
  }

  /** The retained lines joined with `\n`. */
  text(): string {
    return this.#lines.join('\n');
  }

  /** The last `count` lines joined with `\n`. */
  tail(count = 40): string {
    return this.#lines.slice(-count).join('\n');
  }

  /** Calls `listener` for each line added from now on; returns an unsubscribe function. */
  onLine(listener: (line: string) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }
}

/** Whether `line` matches `pattern`, ignoring `lastIndex` state of global/sticky regexes. */
export function lineMatches(pattern: RegExp, line: string): boolean {
  return line.search(pattern) !== -1;
}
