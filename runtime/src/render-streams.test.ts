import { afterEach, describe, expect, it } from 'vitest';
import type { RenderStreamSink } from './sandbox-options.ts';
import { disposeLoaded, loadBundle, request } from './test-helpers.ts';

afterEach(disposeLoaded);

/** A sink recording what reaches it; `credit` is given back for every chunk unless `hold`. */
function recorder(hold = false) {
  const seen: { head?: [number, Array<[string, string]>]; chunks: string[]; bytes: number } = {
    chunks: [],
    bytes: 0,
  };
  let credit: ((bytes: number) => void) | undefined;
  let onChunk: (() => void) | undefined;
  const sink: RenderStreamSink = {
    head(status, headers, give) {
      seen.head = [status, headers];
      credit = give;
    },
    chunk(bytes) {
      seen.chunks.push(new TextDecoder().decode(bytes));
      seen.bytes += bytes.byteLength;
      if (!hold) credit?.(bytes.byteLength);
      onChunk?.();
    },
  };
  return {
    sink,
    seen,
    giveCredit: (bytes: number) => credit?.(bytes),
    nextChunk: () =>
      new Promise<void>((resolve) => {
        onChunk = resolve;
      }),
  };
}

/** A handler streaming "shell", then (once `release` is fetched… here: a timer) "late". */
const SUSPENDING = `Flotilla.serve(() => {
  const enc = new TextEncoder();
  return new Response(new ReadableStream({
    async start(c) {
      c.enqueue(enc.encode('<shell>'));
      await new Promise((r) => setTimeout(r, 200));
      c.enqueue(enc.encode('<late>'));
      c.close();
    },
  }), { headers: { 'content-type': 'text/html' } });
});`;

describe('streamed bodies', () => {
  it('sends the head and the first chunk before the render has finished', async () => {
    const iso = await loadBundle(SUSPENDING);
    const r = recorder();
    const first = r.nextChunk();
    let finished = false;
    const rendering = iso.render(request(), { stream: r.sink, requestId: 'r1' }).then((res) => {
      finished = true;
      return res;
    });
    await first;
    expect(finished).toBe(false);
    expect(r.seen.head?.[0]).toBe(200);
    expect(r.seen.chunks).toEqual(['<shell>']);
    const res = await rendering;
    expect(res.streamed).toBe(true);
    expect(res.body.byteLength).toBe(0);
    expect(r.seen.chunks).toEqual(['<shell>', '<late>']);
  });

  it('reads text and bytes bodies whole, even with a sink', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response('whole'))`);
    const r = recorder();
    const res = await iso.render(request(), { stream: r.sink });
    expect(res.streamed).toBeUndefined();
    expect(new TextDecoder().decode(res.body)).toBe('whole');
    expect(r.seen.head).toBeUndefined();
  });

  it('stops reading the stream while 512 KiB are out without credit (backpressure), holding no CPU slot meanwhile', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => {
      let pulled = 0;
      globalThis.pulledChunks = () => pulled;
      return new Response(new ReadableStream({
        pull(c) {
          pulled++;
          if (pulled > 40) c.close();
          else c.enqueue(new Uint8Array(64 * 1024));
        },
      }, { highWaterMark: 0 }));
    });`);
    const r = recorder(true);
    const io: string[] = [];
    const rendering = iso.render(request(), {
      stream: r.sink,
      requestId: 'bp',
      io: {
        waiting: () => io.push('waiting'),
        resume: async () => {
          io.push('resume');
        },
      },
    });
    // Wait until the guest stopped at its window: 8 chunks of 64 KiB.
    while (r.seen.bytes < 512 * 1024) await r.nextChunk();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.seen.bytes).toBe(512 * 1024);
    // Waiting for its client, the render gave its CPU slot up.
    expect(io).toEqual(['waiting']);
    // Credit for what left: it goes on to the end.
    const all = (async () => {
      while (r.seen.chunks.length < 40) {
        const next = r.nextChunk();
        r.giveCredit(r.seen.bytes);
        await next;
      }
    })();
    r.giveCredit(512 * 1024);
    await all;
    const res = await rendering;
    expect(res.streamed).toBe(true);
    expect(r.seen.bytes).toBe(40 * 64 * 1024);
    // It took a slot back before each credit let it go on.
    expect(io[1]).toBe('resume');
    expect(io.filter((e) => e === 'waiting').length).toBe(io.filter((e) => e === 'resume').length);
  });

  it('fails a stream past the output cap at the chunk that crosses it', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(() => new Response(new ReadableStream({
        pull(c) { c.enqueue(new Uint8Array(1024)); },
      })))`,
      { limits: { outputBytes: 10 * 1024 } },
    );
    const r = recorder();
    await expect(iso.render(request(), { stream: r.sink })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_OUTPUT_LIMIT',
    });
    expect(r.seen.bytes).toBe(10 * 1024);
  });

  it('fails the render when the stream errors after the shell', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response(new ReadableStream({
      async start(c) {
        c.enqueue(new TextEncoder().encode('<shell>'));
        await new Promise((r) => setTimeout(r, 10));
        c.error(new Error('backend down'));
      },
    })))`);
    const r = recorder();
    await expect(iso.render(request(), { stream: r.sink })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_RENDER',
      message: expect.stringContaining('backend down'),
    });
    expect(r.seen.chunks).toEqual(['<shell>']);
  });
});
