import type { StreamBatch } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import { BodyStream, BrokenStreamError } from './body-stream.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join('');

/** A worker answering pulls from `batches`, each only once the test releases it. */
function source(batches: Array<Omit<StreamBatch, 'seq'>>) {
  const asked: number[] = [];
  const waiting: Array<() => void> = [];
  const pull = async (seq: number): Promise<StreamBatch> => {
    asked.push(seq);
    await new Promise<void>((resolve) => waiting.push(resolve));
    const batch = batches[seq - 1];
    if (!batch) throw new Error(`no batch ${seq}`);
    return { seq, ...batch };
  };
  return {
    pull,
    asked,
    /** Answers the pull waiting (if any). */
    release: async () => {
      while (waiting.length === 0) await new Promise((r) => setImmediate(r));
      waiting.shift()?.();
    },
  };
}

async function readAll(stream: BodyStream): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of stream.chunks()) out.push(c);
  return out;
}

describe('BodyStream', () => {
  it('pulls only when a reader caught up, and gives every reader the body from its start', async () => {
    const src = source([
      { body: bytes('<late>'), end: false },
      { body: bytes('</html>'), end: true },
    ]);
    const stream = new BodyStream(bytes('<shell>'), src.pull);
    const it1 = stream.chunks();
    expect(text([(await it1.next()).value as Uint8Array])).toBe('<shell>');
    expect(src.asked).toEqual([]);
    const next = it1.next();
    await src.release();
    expect(text([(await next).value as Uint8Array])).toBe('<late>');
    // A reader arriving now gets what came so far, then the rest.
    const second = readAll(stream);
    const rest = (async () => {
      const out: Uint8Array[] = [];
      for (let r = await it1.next(); !r.done; r = await it1.next()) out.push(r.value);
      return out;
    })();
    await src.release();
    expect(text(await rest)).toBe('</html>');
    expect(text(await second)).toBe('<shell><late></html>');
    expect(src.asked).toEqual([1, 2]);
    expect(stream.complete).toBe(true);
  });

  it('ends every reader with BrokenStreamError when the worker says the stream broke', async () => {
    const src = source([
      { body: new Uint8Array(0), end: false, error: { code: 'FLOTILLA_ERR_RENDER', message: 'x' } },
    ]);
    const stream = new BodyStream(bytes('<shell>'), src.pull);
    const reading = readAll(stream);
    const whole = stream.whole();
    await src.release();
    await expect(reading).rejects.toBeInstanceOf(BrokenStreamError);
    await expect(whole).rejects.toMatchObject({ code: 'FLOTILLA_ERR_RENDER' });
  });

  it('breaks with FLOTILLA_ERR_REPLY_INCOMPLETE when a pull fails (the worker is gone)', async () => {
    const stream = new BodyStream(bytes('<shell>'), async () => {
      throw Object.assign(new Error('no responders'), { code: 'FLOTILLA_ERR_NO_RESPONDERS' });
    });
    await expect(stream.whole()).rejects.toMatchObject({ code: 'FLOTILLA_ERR_REPLY_INCOMPLETE' });
  });

  it('whole() pulls to the end with no reader; cancel() is then ignored', async () => {
    const src = source([
      { body: bytes('b'), end: false },
      { body: bytes('c'), end: true },
    ]);
    const stream = new BodyStream(bytes('a'), src.pull);
    const whole = stream.whole();
    stream.cancel();
    await src.release();
    await src.release();
    expect(new TextDecoder().decode(await whole)).toBe('abc');
  });
});
