import { describe, expect, it } from 'vitest';
import {
  decodeStreamBatch,
  decodeStreamPull,
  encodeStreamBatch,
  encodeStreamPull,
} from './stream.ts';
import { decodeRenderResult, encodeRenderResult } from './wire.ts';

describe('stream messages', () => {
  it('round-trip a pull and its batches (bytes, end, error)', () => {
    const pull = { stream: 'w-1a2b.7', seq: 3, maxBytes: 65536 };
    expect(decodeStreamPull(encodeStreamPull(pull))).toEqual(pull);
    const cancel = { ...pull, cancel: true as const };
    expect(decodeStreamPull(encodeStreamPull(cancel))).toEqual(cancel);
    const body = new TextEncoder().encode('<li>late</li>');
    expect(decodeStreamBatch(encodeStreamBatch({ seq: 3, body, end: false }))).toEqual({
      seq: 3,
      body,
      end: false,
    });
    const error = { code: 'FLOTILLA_ERR_RENDER', message: 'threw after the shell' } as const;
    expect(
      decodeStreamBatch(encodeStreamBatch({ seq: 4, body: new Uint8Array(0), end: false, error })),
    ).toMatchObject({ seq: 4, end: false, error });
  });

  it('refuses a malformed pull or batch with FLOTILLA_ERR_PROTOCOL, naming the field', () => {
    const pull = encodeStreamPull({ stream: 'w-1.1', seq: 1, maxBytes: 10 });
    pull.headers['flotilla-stream'] = 'w-1.*';
    expect(() => decodeStreamPull(pull)).toThrow(/stream must be a stream id/);
    const batch = encodeStreamBatch({ seq: 1, body: new Uint8Array(0), end: true });
    batch.headers['flotilla-error'] = '{"code":"oops"}';
    expect(() => decodeStreamBatch(batch)).toThrow(
      expect.objectContaining({ code: 'FLOTILLA_ERR_PROTOCOL' }),
    );
  });

  it('carries a render result’s stream id, and refuses a bad one', () => {
    const result = {
      ok: true as const,
      status: 200,
      headers: [['content-type', 'text/html']] as Array<[string, string]>,
      body: new TextEncoder().encode('<shell>'),
      timings: {},
      stream: 'w-1a2b.7',
    };
    expect(decodeRenderResult(encodeRenderResult(result))).toEqual(result);
    const msg = encodeRenderResult(result);
    msg.headers['flotilla-stream'] = 'flotilla.>';
    expect(() => decodeRenderResult(msg)).toThrow(/stream id/);
  });
});
