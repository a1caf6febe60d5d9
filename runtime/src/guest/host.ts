/**
 * A host function handed to the prelude (an isolated-vm `Callback` with
 * `ignored: true`: the call returns at once, the host runs it later). It never
 * becomes reachable from bundle code: the prelude keeps it in its closure.
 */
export type HostCallback = (...args: Array<string | number>) => void;

/** Plain request shape the host passes in (copied). */
export interface GuestRequestInit {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  /** Request body bytes (copied), or null for none. */
  body: Uint8Array | null;
  /** Id of the request, for the bundle's log lines; '' when unknown. */
  requestId: string;
  /**
   * The render's environment variables as [name, value] pairs (copied), or
   * null for none. The guest builds a fresh frozen object of them per render.
   */
  env: Array<[string, string]> | null;
  /**
   * The render's output cap, in bytes: a body past it fails the render with
   * `FLOTILLA_ERR_OUTPUT_LIMIT` before it is copied out of the isolate (a
   * stream is cancelled at the chunk that crosses it).
   */
  maxBodyBytes: number;
  /**
   * Stream a body that is a `ReadableStream` out chunk by chunk through the
   * stream callback ({@link StreamHostCallback}) as it is produced, rather
   * than read it whole; the render's result then has no body and says how
   * many chunks went out (`streamedChunks`).
   */
  stream?: boolean;
}

/**
 * The guest's streamed response, handed to the host as it is produced
 * (an isolated-vm `Callback` with `ignored: true`): `head` once (status and
 * header list), then one `chunk` per body chunk (bytes, copied). The render's
 * result tells how many chunks went out, so the host knows when it has them all.
 */
export type StreamHostCallback = (
  op: 'head' | 'chunk',
  owner: string,
  value: number | Uint8Array,
  headers?: Array<[string, string]>,
) => void;

/**
 * Bytes a streaming render may have sent out that the host has not given
 * credit back for (it does as they leave the worker): past it the guest
 * stops reading the body stream until credit comes (backpressure).
 */
export const STREAM_WINDOW_BYTES = 512 * 1024;

/** Plain response shape the guest hands back (copied). */
export type GuestResult =
  | {
      ok: true;
      status: number;
      headers: Array<[string, string]>;
      bodyText: string | null;
      bodyBytes: Uint8Array | null;
      /** A streamed body: how many chunks went out through the stream callback. */
      streamedChunks?: number;
    }
  | { ok: false; code: string; message: string };

/** Timers alive at once per isolate (each is a host timer until it fires). */
export const MAX_TIMERS = 10_000;

/** Backend sub-requests one render may make (every `fetch` call counts, refused ones too). */
export const MAX_FETCHES_PER_RENDER = 50;

/** `fetch` calls an isolate may have waiting for the host at once (all renders together). */
export const MAX_PENDING_FETCHES = 1000;

/**
 * What the guest's `fetch` hands the host (copied): the call's id and the
 * request id of the render that made it, then the request itself.
 */
export type FetchHostCallback = (
  id: number,
  owner: string,
  url: string,
  method: string,
  headers: Array<[string, string]>,
  body: Uint8Array | null,
  redirect: string,
) => void;

/**
 * What the host answers to one `fetch` call (copied into the isolate). A
 * failure carries only a message: the guest turns it into a `TypeError`.
 */
export type GuestFetchResult =
  | {
      ok: true;
      status: number;
      statusText: string;
      headers: Array<[string, string]>;
      body: Uint8Array | null;
      /** URL of the response (after redirects). */
      url: string;
      redirected: boolean;
    }
  | { ok: false; message: string };
