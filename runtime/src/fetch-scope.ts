/**
 * The sub-requests of one render: how many it made, a slot each of the
 * {@link MAX_CONCURRENT_FETCHES} it may run at once, its trace, and one
 * abort signal that ends them all when the render ends or the isolate goes.
 */
import { nextTraceparent } from '@flotilla/protocol';
import { type AbortKind, FetchAbort } from './fetch-errors.ts';
import { IoWait, type RenderIoGate } from './io-wait.ts';

/** Sub-requests of one render in flight at once; more wait for a free slot. */
export const MAX_CONCURRENT_FETCHES = 6;

/** What one render's sub-requests share. */
export interface FetchScopeOptions {
  /** When the render must end (epoch ms): its deadline, or its start plus the wall limit. */
  endAt: number;
  /** The render's `traceparent`; absent or invalid: the render starts a trace. */
  traceparent?: string | undefined;
  /** Called once per `fetch` call with its backend and outcome (for metrics). */
  onRequest?: ((backend: string, outcome: string) => void) | undefined;
  /**
   * The render's backends (name → normalized origin), from
   * {@link BackendFetcher.withOverrides}. @default the declared backends
   */
  backends?: Readonly<Record<string, string>> | undefined;
  /** Told when the render only waits on its `fetch` calls, and when one answers. @default none */
  io?: RenderIoGate | undefined;
}

/** The sub-requests of one render. */
export interface FetchScope {
  /** `fetch` calls the render made so far. */
  readonly calls: number;
  /** Ends the render's scope: its sub-requests in flight or waiting are aborted. */
  end(): void;
}

/** A render's {@link FetchScope}, with what the backend bridge keeps of it. */
export class RenderScope implements FetchScope {
  calls = 0;
  active = 0;
  refs = 1;
  ended = false;
  readonly waiting: Array<() => void> = [];
  /** Calls in flight and their backend: counted as aborted when the scope ends under them. */
  readonly inFlight = new Map<object, string>();
  // Made on the first fetch: most renders never call it, and an abort
  // controller (its abort event above all) costs more than the render's
  // other bookkeeping together.
  #controller: AbortController | undefined;
  #traceparent: string | undefined;
  readonly #incomingTraceparent: string | undefined;
  #endedBy: AbortKind = 'ended';
  readonly endAt: number;
  readonly onRequest: ((backend: string, outcome: string) => void) | undefined;
  /** What this render's `fetch` may reach: name → normalized origin. */
  readonly backends: Readonly<Record<string, string>>;
  /** The render's calls in flight, for its {@link RenderIoGate}. */
  readonly io: IoWait;
  readonly #release: (scope: RenderScope) => void;

  constructor(
    options: FetchScopeOptions,
    backends: Readonly<Record<string, string>>,
    release: (scope: RenderScope) => void,
  ) {
    this.endAt = options.endAt;
    this.backends = backends;
    this.#incomingTraceparent = options.traceparent;
    this.onRequest = options.onRequest;
    this.io = new IoWait(options.io);
    this.#release = release;
  }

  /** Aborted when the scope ends, with a {@link FetchAbort}. */
  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.ended && !this.#controller.signal.aborted) {
      this.#controller.abort(new FetchAbort(this.#endedBy));
    }
    return this.#controller.signal;
  }

  /** The render's trace: a valid incoming traceparent keeps its trace id; otherwise the render starts one. */
  get traceparent(): string {
    this.#traceparent ??= nextTraceparent(this.#incomingTraceparent);
    return this.#traceparent;
  }

  end(): void {
    if (this.ended || --this.refs > 0) return;
    this.abort('ended');
  }

  abort(kind: AbortKind): void {
    if (this.ended) return;
    this.ended = true;
    this.#endedBy = kind;
    // Counted now: their answers come after the render's result is built.
    for (const backend of this.inFlight.values()) this.onRequest?.(backend, 'aborted');
    this.inFlight.clear();
    this.#controller?.abort(new FetchAbort(kind));
    this.#release(this);
  }

  /** Waits for one of the render's concurrent slots (or for `signal`). */
  async slot(signal: AbortSignal): Promise<void> {
    if (this.active < MAX_CONCURRENT_FETCHES) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(grant);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal.reason);
      };
      const grant = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal.aborted) {
        reject(signal.reason);
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(grant);
    });
  }

  /** Frees a slot: the next waiting sub-request takes it. */
  free(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }
}
