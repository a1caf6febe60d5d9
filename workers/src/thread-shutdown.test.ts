/**
 * The drain's last handshake with real threads: each thread that listens
 * disposes its isolates on its own loop before the pool may terminate it.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadShutdown } from './thread-shutdown.ts';

const MODULE = new URL('./thread-shutdown.ts', import.meta.url).href;

/**
 * A thread that listens on `channel`. Asked to dispose, it tells its parent
 * and finishes only when the parent says `go` (so the test sees the wait).
 */
function thread(
  channel: string,
  stuck = false,
): Promise<{ worker: Worker; disposed: Promise<void> }> {
  const worker = new Worker(
    `const { parentPort, threadId, workerData } = require('node:worker_threads');
     let go;
     const released = new Promise((r) => { go = r; });
     parentPort.on('message', (m) => { if (m === 'go') go(); });
     import(workerData.module).then(({ onShutdownRequest }) => {
       onShutdownRequest(workerData.channel, threadId, () => {
         parentPort.postMessage('disposing');
         return released;
       });
       parentPort.postMessage('listening');
       // As a piscina thread, kept alive by its parent (the channel is unref'd).
       setInterval(() => {}, 1000);
       if (workerData.stuck) setTimeout(() => { for (;;) {} }, 50);
     });`,
    { eval: true, workerData: { module: MODULE, channel, stuck } },
  );
  workers.push(worker);
  let onDisposing: () => void;
  const disposed = new Promise<void>((resolve) => {
    onDisposing = resolve;
  });
  return new Promise((resolve, reject) => {
    worker.on('error', reject);
    worker.on('message', (m) => {
      if (m === 'listening') resolve({ worker, disposed });
      if (m === 'disposing') onDisposing();
    });
  });
}

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

describe('ThreadShutdown', () => {
  it('resolves once every listening thread disposed its isolates', async () => {
    const shutdown = new ThreadShutdown('w-test');
    const threads = await Promise.all([thread(shutdown.channel), thread(shutdown.channel)]);
    // Their word on the channel may arrive after their word to the parent.
    while (shutdown.listening < 2) await new Promise((r) => setTimeout(r, 10));
    let resolved = false;
    // A long timeout: only the threads' answers can end this wait in the test's time.
    const done = shutdown.disposeIsolates(600_000).then(() => {
      resolved = true;
    });
    await Promise.all(threads.map((t) => t.disposed));
    expect(resolved).toBe(false);
    for (const t of threads) t.worker.postMessage('go');
    await done;
    expect(resolved).toBe(true);
    shutdown.close();
  });

  it('resolves at once when no thread listens yet (none can hold an isolate)', async () => {
    const shutdown = new ThreadShutdown('w-empty');
    await shutdown.disposeIsolates(600_000);
    shutdown.close();
  });

  it('gives up on a thread that cannot answer after the timeout, so a drain still ends', async () => {
    const shutdown = new ThreadShutdown('w-stuck');
    await thread(shutdown.channel, true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await shutdown.disposeIsolates(300);
    shutdown.close();
  }, 60_000);
});
