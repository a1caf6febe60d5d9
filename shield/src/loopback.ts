/**
 * A GET through this shield's own traffic listener, as a visitor would
 * send it: how prerenders and revalidations store what any miss stores.
 *
 * @module
 */
import { request } from 'node:http';

/** What the shield answered a {@link loopbackGet}. */
export interface LoopbackAnswer {
  /** 0 when no answer came (`error` says why). */
  status: number;
  /** Its `cache-status`, `''` when none. */
  cacheStatus: string;
  /** Its `x-flotilla-caching-status`, `'-'` when none. */
  cachingStatus: string;
  /** Its `x-flotilla-revalidate` (`left-to-owner`: a global member that does not own the key), `''` when none. */
  revalidate: string;
  error?: string;
}

/** GETs `path` on `host:port` with `headers` (Host included); the body is dropped. */
export function loopbackGet(
  host: string,
  port: number,
  path: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<LoopbackAnswer> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', headers, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          cacheStatus: String(res.headers['cache-status'] ?? ''),
          cachingStatus: String(res.headers['x-flotilla-caching-status'] ?? '-'),
          revalidate: String(res.headers['x-flotilla-revalidate'] ?? ''),
        }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) =>
      resolve({
        status: 0,
        cacheStatus: '',
        cachingStatus: '-',
        revalidate: '',
        error: err.message,
      }),
    );
    req.end();
  });
}
