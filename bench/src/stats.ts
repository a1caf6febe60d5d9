/**
 * Small helpers shared by the benchmarks: percentiles, formatting, the
 * `RESULT ` line, and the clock.
 *
 * @module
 */

/** Percentile `p` (0..100) of `values` by nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] ?? Number.NaN;
}

/** p50 and p99 of `values`, rounded for printing and JSON. */
export function p50p99(values: readonly number[]): { p50: number; p99: number } {
  return { p50: round(percentile(values, 50), 3), p99: round(percentile(values, 99), 3) };
}

/** Mean of `values`; NaN when empty. */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Rounds to `digits` decimals. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Formats a table: the first row is the header; columns are padded. */
export function table(rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const text = rows.map((r) => r.map((c) => String(c)));
  const widths: number[] = [];
  for (const r of text) {
    for (const [i, c] of r.entries()) widths[i] = Math.max(widths[i] ?? 0, c.length);
  }
  return text
    .map((r, ri) => {
      const line = r
        .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
        .join('  ');
      return ri === 0 ? `${line}\n${'-'.repeat(line.length)}` : line;
    })
    .join('\n');
}

/** Prints the machine-readable last line of a bench: `RESULT {...}`. */
export function printResult(result: Record<string, unknown>): void {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
}

/** Milliseconds since an arbitrary origin, fractional. */
export const now = (): number => performance.now();
