/**
 * The guest's `fetch`: hands each call to the host (which may reach only the
 * deployment's declared backends) and resolves with a `Response` when the
 * host delivers the answer. The host callback stays in this closure; the
 * bundle sees only `fetch`.
 *
 * Bookkeeping uses prototype-less objects and closure numbers, so a bundle
 * that patches `Map.prototype` or `Object.prototype` cannot lift the
 * per-render or per-isolate bounds kept here (the host enforces its own too).
 */
import { abortableSignalOf, Headers, Request, type RequestInit, Response } from './fetch-api.ts';
import {
  type FetchHostCallback,
  type GuestFetchResult,
  MAX_FETCHES_PER_RENDER,
  MAX_PENDING_FETCHES,
} from './host.ts';

interface PendingFetch {
  resolve: (response: Response) => void;
  reject: (err: unknown) => void;
  owner: string;
  /** Stops listening to the call's signal (none: a no-op). */
  unlisten: () => void;
}

/** `RequestInit` plus the `redirect` mode. */
export interface FetchInit extends RequestInit {
  redirect?: 'follow' | 'manual' | 'error';
}

export interface GuestFetch {
  /** The global `fetch`. */
  fetch(input: unknown, init?: FetchInit): Promise<Response>;
  /** Settles call `id` with the host's answer (runs the awaiting code as its render). */
  deliver(id: number, result: GuestFetchResult): void;
  /** Forgets the calls of a render that ended: their promises never settle. */
  settle(owner: string): void;
  /** True while render `owner` has made calls the host has not settled yet (see `settle`). */
  made(owner: string): boolean;
}

const REDIRECT_MODES = ['follow', 'manual', 'error'];

/**
 * @param host the host callback (an isolated-vm `Callback`, `ignored` mode).
 * @param owner returns the request id of the code running now.
 * @param enter makes `owner` the code running now (before delivering an answer).
 */
export function createFetch(
  host: FetchHostCallback,
  owner: () => string,
  enter: (owner: string) => void,
): GuestFetch {
  const pending: Record<number, PendingFetch> = Object.create(null);
  const calls: Record<string, number> = Object.create(null);
  let pendingCount = 0;
  let nextId = 1;

  async function fetch(input: unknown, init: FetchInit = {}): Promise<Response> {
    const who = owner();
    if (who === '') {
      throw new TypeError(
        'fetch is only available while a request renders (not while the bundle loads)',
      );
    }
    if (init === null || typeof init !== 'object') init = {};
    const shown = input instanceof Request ? input.url : String(input);
    if (pendingCount >= MAX_PENDING_FETCHES) {
      throw new TypeError(
        `fetch to ${shown.slice(0, 200)} refused: ${MAX_PENDING_FETCHES} fetches are already pending in this isolate`,
      );
    }
    const redirect = String(init.redirect ?? 'follow');
    if (!REDIRECT_MODES.includes(redirect)) {
      throw new TypeError(
        `fetch: redirect must be "follow", "manual" or "error", got "${redirect}"`,
      );
    }
    // Reserve the slot now: the body is read after an await, and a loop of
    // calls must not all pass the check before any of them counts.
    pendingCount++;
    let request: Request;
    let body: Uint8Array | null;
    try {
      // Request does the input handling (string, URL via toString, Request) and header checks.
      request = new Request(input as string | Request, init);
      // As in browsers: an aborted signal rejects with its reason, and nothing is sent.
      abortableSignalOf(request)?.throwIfAborted();
      const explicit = init.body !== undefined && init.body !== null;
      if (typeof init.body === 'string' && !request.headers.has('content-type')) {
        request.headers.set('content-type', 'text/plain;charset=UTF-8');
      }
      const bytes = new Uint8Array(await request.arrayBuffer());
      body = bytes.byteLength > 0 || explicit ? bytes : null;
      if (body !== null && (request.method === 'GET' || request.method === 'HEAD')) {
        throw new TypeError(`fetch: a ${request.method} request cannot have a body`);
      }
    } catch (err) {
      pendingCount--;
      throw err;
    }
    // Counted here, as the host counts the calls it gets: the host makes sure
    // to settle a render that made any, which forgets its count.
    const made = (calls[who] ?? 0) + 1;
    calls[who] = made;
    if (made > MAX_FETCHES_PER_RENDER) {
      pendingCount--;
      throw new TypeError(
        `fetch to ${shown.slice(0, 200)} refused: a render may make at most ${MAX_FETCHES_PER_RENDER} sub-requests (limit reached)`,
      );
    }
    const id = nextId++;
    const headers = request.headers.toList();
    const signal = abortableSignalOf(request);
    return new Promise<Response>((resolve, reject) => {
      const call: PendingFetch = { resolve, reject, owner: who, unlisten: () => {} };
      pending[id] = call;
      host(id, who, request.url, request.method, headers, body, redirect);
      if (signal === null) return;
      // Aborting rejects at once; the host's answer is then dropped (the host
      // ends the sub-request with the render at the latest).
      const onAbort = () => {
        if (pending[id] !== call) return;
        delete pending[id];
        pendingCount--;
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      call.unlisten = () => signal.removeEventListener('abort', onAbort);
    });
  }

  return {
    fetch,
    deliver(id, result) {
      const call = pending[id];
      if (call === undefined) return;
      delete pending[id];
      pendingCount--;
      call.unlisten();
      enter(call.owner);
      if (!result.ok) {
        call.reject(new TypeError(String(result.message)));
        return;
      }
      let response: Response;
      try {
        response = new Response(result.body, {
          status: result.status,
          statusText: result.statusText,
          headers: new Headers(result.headers),
        });
        Object.defineProperties(response, {
          url: { value: result.url, enumerable: true },
          redirected: { value: result.redirected, enumerable: true },
          type: { value: 'basic', enumerable: true },
        });
      } catch (err) {
        call.reject(
          new TypeError(`fetch failed: unusable response: ${String((err as Error)?.message)}`),
        );
        return;
      }
      call.resolve(response);
    },
    made: (who) => calls[who] !== undefined,
    settle(who) {
      delete calls[who];
      for (const key of Object.keys(pending)) {
        const id = Number(key);
        const call = pending[id];
        if (call?.owner === who) {
          call.unlisten();
          delete pending[id];
          pendingCount--;
        }
      }
    },
  };
}
