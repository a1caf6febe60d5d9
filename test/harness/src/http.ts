import { createServer, type RequestListener, type Server } from 'node:http';

/** An HTTP server listening on 127.0.0.1, returned by {@link listen}. */
export interface ListeningServer {
  /** The underlying Node server. */
  server: Server;
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:39123`. */
  url: string;
  /** The port the kernel chose. */
  port: number;
  /** Stops listening and destroys every open connection (idle or not); idempotent. */
  close(): Promise<void>;
}

/**
 * Starts an HTTP server with `handler` on 127.0.0.1, on a port the kernel
 * chooses (port 0).
 */
export function listen(handler: RequestListener): Promise<ListeningServer> {
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`listen: unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      const close = (): Promise<void> =>
        new Promise((done) => {
          if (!server.listening) {
            server.closeAllConnections();
            done();
            return;
          }
          server.close(() => done());
          server.closeIdleConnections();
          server.closeAllConnections();
        });
      resolve({ server, url: `http://127.0.0.1:${port}`, port, close });
    });
  });
}

/** Options for {@link httpGet}. */
export interface HttpGetOptions {
  /** Request headers. */
  headers?: Record<string, string>;
  /**
   * Abort the request (including reading the body) after this long.
   * @default 15000
   */
  timeoutMs?: number;
  /**
   * Redirect mode passed to fetch; `'manual'` returns the 3xx response itself.
   * @default 'follow'
   */
  redirect?: RequestRedirect;
}

/** What {@link httpGet} resolves with. */
export interface HttpGetResult {
  /** HTTP status code. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Response body decoded as UTF-8 text. */
  body: string;
}

/**
 * `GET url` with the global fetch, reading the whole body as text.
 * Non-2xx statuses resolve normally; only network errors and the timeout reject.
 */
export async function httpGet(url: string, options: HttpGetOptions = {}): Promise<HttpGetResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const init: RequestInit = {
    signal: AbortSignal.timeout(timeoutMs),
    redirect: options.redirect ?? 'follow',
  };
  if (options.headers !== undefined) init.headers = options.headers;
  try {
    const response = await fetch(url, init);
    const body = await response.text();
    return { status: response.status, headers: response.headers, body };
  } catch (error) {
    if (error instanceof Error && error.name === 'TimeoutError') {
      throw new Error(`httpGet: GET ${url} timed out after ${timeoutMs} ms`, { cause: error });
    }
    throw new Error(`httpGet: GET ${url} failed: ${describeError(error)}`, { cause: error });
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
