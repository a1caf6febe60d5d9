import { REDIRECT_BATCH_ROWS, type RedirectRow } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import { redirectBatches } from './redirects.ts';

const rows = (n: number, toChars = 10): RedirectRow[] =>
  Array.from({ length: n }, (_, i) => ({
    from: `/r/${i}`,
    to: `/${'x'.repeat(toChars)}`,
    status: 301,
    forwardQueryString: false,
  }));

describe('redirectBatches', () => {
  it('sends at most REDIRECT_BATCH_ROWS rows per request, numbering each batch from its first row', () => {
    const out = [...redirectBatches(rows(REDIRECT_BATCH_ROWS * 2 + 1))];
    expect(out.map((b) => [b.start, b.batch.length])).toEqual([
      [0, REDIRECT_BATCH_ROWS],
      [REDIRECT_BATCH_ROWS, REDIRECT_BATCH_ROWS],
      [REDIRECT_BATCH_ROWS * 2, 1],
    ]);
  });

  it('keeps each request under 512 KiB of JSON, however long the rows', () => {
    const long = rows(600, 2000);
    const out = [...redirectBatches(long)];
    expect(out.length).toBeGreaterThan(2);
    for (const { batch } of out) {
      expect(Buffer.byteLength(JSON.stringify(batch))).toBeLessThanOrEqual(512 * 1024);
    }
    expect(out.flatMap((b) => b.batch)).toEqual(long);
  });
});
