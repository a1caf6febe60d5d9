import type { MessagePort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { RenderTaskResult, StreamMessage } from './task.ts';
import { WorkerStreams } from './worker-streams.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A thread's answer for a render that streamed `chunks` chunks (or failed). */
function answer(chunks: number | { code: string; message: string }): RenderTaskResult {
  const state = {
    warm: [],
    threadId: 1,
    cold: false,
    loaded: false,
    isolates: { isolates: 1, heapBytes: 0 },
    timings: {},
  };
  if (typeof chunks !== 'number') {
    return { ...state, ok: false, error: chunks as never };
  }
  return {
    ...state,
    ok: true,
    status: 200,
    headers: [],
    body: new Uint8Array(0),
    cpuMs: 1,
    streamedChunks: chunks,
  };
}

/** Posts `m` as the render thread would. */
function post(port: MessagePort, m: StreamMessage) {
  port.postMessage(m);
}

describe('WorkerStream', () => {
  it('starts with the head at the first chunk, even when the thread answered before its chunks came', async () => {
    const streams = new WorkerStreams('w-1', () => {});
    const s = streams.open(Date.now() + 10_000);
    expect(s.id).toMatch(/^w-1\.\d+$/);
    s.finish(answer(2)); // the thread's answer overtook its chunks
    post(s.port, { type: 'head', status: 200, headers: [['content-type', 'text/html']] });
    post(s.port, { type: 'chunk', bytes: bytes('<shell>') });
    post(s.port, { type: 'chunk', bytes: bytes('</html>') });
    expect(await s.started).toEqual({ status: 200, headers: [['content-type', 'text/html']] });
    // Whatever came; the rest by pulls until the end.
    const first = s.first(1024);
    let body = text(first.body);
    let end = first.end;
    for (let seq = 1; !end; seq++) {
      const batch = await s.pull(seq, 1024);
      body += text(batch.body);
      end = batch.end;
    }
    expect(body).toBe('<shell></html>');
    s.close();
  });

  it('answers a pull as soon as a chunk comes (long poll), cut to its credit, and repeats a lost batch', async () => {
    const streams = new WorkerStreams('w-1', () => {});
    const s = streams.open(Date.now() + 10_000);
    post(s.port, { type: 'head', status: 200, headers: [] });
    post(s.port, { type: 'chunk', bytes: bytes('a') });
    await s.started;
    expect(text(s.first(1024).body)).toBe('a');
    const pulled = s.pull(1, 3);
    post(s.port, { type: 'chunk', bytes: bytes('bcdef') });
    const batch = await pulled;
    expect(batch).toMatchObject({ seq: 1, end: false });
    expect(text(batch.body)).toBe('bcd');
    // Its answer was lost: asked again, the same batch.
    expect(await s.pull(1, 3)).toBe(batch);
    s.finish(answer(2));
    expect(await s.pull(2, 3)).toMatchObject({ seq: 2, end: true, body: bytes('ef') });
    s.close();
  });

  it('ends with an error batch, never `end`, when the render fails midway', async () => {
    const streams = new WorkerStreams('w-1', () => {});
    const s = streams.open(Date.now() + 10_000);
    post(s.port, { type: 'head', status: 200, headers: [] });
    post(s.port, { type: 'chunk', bytes: bytes('<shell>') });
    await s.started;
    s.first(1024);
    const pulled = s.pull(1, 1024);
    s.finish(answer({ code: 'FLOTILLA_ERR_RENDER', message: 'threw after the shell' }));
    expect(await pulled).toMatchObject({
      seq: 1,
      end: false,
      error: { code: 'FLOTILLA_ERR_RENDER' },
    });
    s.close();
  });

  it('never starts a render that did not stream', async () => {
    const streams = new WorkerStreams('w-1', () => {});
    const s = streams.open(Date.now() + 10_000);
    const out = answer(0);
    if (out.ok) delete out.streamedChunks;
    s.finish(out);
    expect(await s.started).toBeUndefined();
    s.close();
    await s.closed;
    expect(streams.size).toBe(0);
  });
});
