/**
 * The last step of a drain before the thread pool closes: every render
 * thread disposes its isolates itself, on its own event loop, waits until
 * every call it made into them has answered, and says so. Terminating a
 * thread (what `Piscina#close` does) while an isolated-vm call it made is
 * unanswered aborts the whole process: the answer (a killed render's call
 * unwinding on isolated-vm's pool thread, a host timer's call) reaches a
 * thread that can no longer run it (see runtime's calls-in-flight.ts).
 */
import { randomBytes } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';

/** What a thread posts: once it listens (`ready`), and once its isolates are gone (`disposed`). */
interface ThreadMessage {
  ready?: number;
  disposed?: number;
}

/** The worker process's side: asks every thread to dispose, waits for all of them. */
export class ThreadShutdown {
  /** Name of the channel (the threads' `RenderThreadData.controlChannel`). */
  readonly channel: string;
  readonly #port: BroadcastChannel;
  /** Threads listening: only they can have isolates (a thread gets renders once it loaded). */
  readonly #ready = new Set<number>();
  readonly #disposed = new Set<number>();
  #waiting: (() => void) | undefined;

  constructor(workerId: string) {
    this.channel = `flotilla-control-${workerId}-${randomBytes(4).toString('hex')}`;
    this.#port = new BroadcastChannel(this.channel);
    this.#port.unref();
    this.#port.onmessage = (event) => {
      const message = event.data as ThreadMessage;
      if (message.ready !== undefined) this.#ready.add(message.ready);
      if (message.disposed !== undefined) this.#disposed.add(message.disposed);
      if (this.#waiting && [...this.#ready].every((id) => this.#disposed.has(id))) this.#waiting();
    };
  }

  /** Threads heard listening so far. */
  get listening(): number {
    return this.#ready.size;
  }

  /**
   * Asks the threads to dispose their isolates and resolves once every
   * thread that was listening answered, or after `timeoutMs` (a thread that
   * cannot answer is terminated with its isolates, as before).
   */
  disposeIsolates(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#waiting?.(), timeoutMs);
      this.#waiting = () => {
        clearTimeout(timer);
        this.#waiting = undefined;
        resolve();
      };
      if (this.#ready.size === 0) this.#waiting();
      else this.#port.postMessage('dispose');
    });
  }

  close(): void {
    this.#port.close();
  }
}

/**
 * The render thread's side: says it listens, and on the worker's request
 * runs `dispose` and answers with the thread's id.
 */
export function onShutdownRequest(
  channel: string,
  threadId: number,
  dispose: () => void | Promise<void>,
): void {
  const port = new BroadcastChannel(channel);
  port.unref();
  port.onmessage = async (event) => {
    if (event.data !== 'dispose') return;
    await dispose();
    port.postMessage({ disposed: threadId } satisfies ThreadMessage);
  };
  port.postMessage({ ready: threadId } satisfies ThreadMessage);
}
