/**
 * A whole HTTP response as bytes, read with node:http: the shield-cache
 * bench compares the very bytes each side serves (possibly compressed), so
 * the body is never decoded.
 *
 * @module
 */
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { buffer } from 'node:stream/consumers';
import { HEADERS } from './shield-cache-settings.ts';
import { now } from './stats.ts';

/** A whole response, read with node:http (headers exactly as given, no decoding). */
export interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  ms: number;
}

/** `GET url` on a new connection, with the bench's request headers. */
export async function getBytes(url: string): Promise<Got> {
  const t = now();
  const req = httpRequest(url, { headers: Object.fromEntries(HEADERS), agent: false });
  req.setTimeout(15_000, () => req.destroy(new Error(`GET ${url} timed out`)));
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const body = await buffer(res);
  return { status: res.statusCode ?? 0, headers: res.headers, body, ms: now() - t };
}

/** Header `name` of `g`, repeated ones joined with `, `; `''` when absent. */
export function header(g: Got, name: string): string {
  const v = g.headers[name];
  return Array.isArray(v) ? v.join(', ') : (v ?? '');
}
