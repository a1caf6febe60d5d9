import {
  type Agent,
  createServer,
  request as nodeRequest,
  type RequestListener,
  type Server,
} from 'node:http';

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

/** One HTTP exchange made by {@link httpRequest}. */
export interface HttpReply {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: string;
  /** From sending to the end of the body, ms. */
  ms: number;
}

/** Options of {@link httpRequest}. */
export interface HttpRequestOptions {
  /** The `Host` header. @default the base URL's host */
  host?: string;
  /** More request headers. */
  headers?: Record<string, string>;
  /** @default 'GET' */
  method?: string;
  /** @default a new connection (no pooling) */
  agent?: Agent | false;
  /** The request (body included) is destroyed after this long. @default 10000 */
  timeoutMs?: number;
  /** Abort the request (the promise then rejects). */
  signal?: AbortSignal;
}

/**
 * Sends one request (no body) to `base` for `path`, sent as is (percent-escapes
 * and `;` untouched), and reads the whole answer as text. Unlike
 * {@link httpGet} (fetch) it can set `Host` and share an `Agent` with
 * thousands of sockets. Rejects on a network error or after `timeoutMs`.
 */
export function httpRequest(
  base: string,
  path: string,
  options: HttpRequestOptions = {},
): Promise<HttpReply> {
  const url = new URL(base);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = nodeRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        headers: { host: options.host ?? url.host, ...options.headers },
        agent: options.agent ?? false,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          }
          resolve({ status: res.statusCode ?? 0, headers, body, ms: performance.now() - started });
        });
      },
    );
    const timer = setTimeout(
      () =>
        req.destroy(
          new Error(`${options.method ?? 'GET'} ${path} timed out after ${timeoutMs} ms`),
        ),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end();
  });
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
