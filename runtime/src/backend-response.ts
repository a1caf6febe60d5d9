/**
 * A backend's final answer as the guest gets it: the body buffered up to
 * the response cap (counted after decoding; past it the sub-request is
 * aborted), and the headers without the hop-by-hop ones, or the encoding
 * ones once undici decoded the body.
 */
import { HOP_BY_HOP_HEADERS } from '@flotilla/protocol/patterns';
import { type AbortKind, FetchAbort } from './fetch-errors.ts';
import { concatBytes } from './guest/bytes.ts';
import type { GuestFetchResult } from './guest/host.ts';

/** Response headers never handed to the guest (hop-by-hop). */
const DROPPED_RESPONSE_HEADERS = new Set(HOP_BY_HOP_HEADERS);

/** A response body cut at `cap` bytes (decoded): past it the sub-request is aborted. */
async function readCapped(
  response: Response,
  cap: number,
  abort: (kind: AbortKind) => void,
): Promise<Uint8Array | null> {
  if (response.body === null) return null;
  const declared = Number(response.headers.get('content-length'));
  if (!response.headers.has('content-encoding') && Number.isFinite(declared) && declared > cap) {
    abort('too_large');
    throw new FetchAbort('too_large');
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > cap) {
      abort('too_large');
      void reader.cancel().catch(() => {});
      throw new FetchAbort('too_large');
    }
    chunks.push(value);
  }
  return concatBytes(chunks, total);
}

/**
 * Reads `response` (the last of `redirected` hops, at `url`) into what the
 * guest's `fetch` resolves with.
 *
 * @param cap the response body cap (`limits.backendResponseBytes`).
 * @param abort aborts the sub-request (with `too_large`), before this rejects.
 * @throws FetchAbort `too_large` past the cap.
 */
export async function guestResponse(
  response: Response,
  url: URL,
  redirected: boolean,
  cap: number,
  abort: (kind: AbortKind) => void,
): Promise<Extract<GuestFetchResult, { ok: true }>> {
  const bytes = await readCapped(response, cap, abort);
  const decoded = response.headers.has('content-encoding');
  const out: Array<[string, string]> = [];
  for (const [name, value] of response.headers) {
    if (DROPPED_RESPONSE_HEADERS.has(name)) continue;
    // undici decoded the body: its encoding and length headers no longer describe it.
    if (decoded && (name === 'content-encoding' || name === 'content-length')) continue;
    out.push([name, value]);
  }
  return {
    ok: true,
    status: response.status,
    statusText: response.statusText,
    headers: out,
    body: bytes,
    url: url.href,
    redirected,
  };
}
