/**
 * Node's `http.IncomingMessage` and `http.ServerResponse` over a web
 * `Request` and `Response`, for framework handlers written against Node's
 * server (`handler(req, res)`): {@link toNodeRequest} makes the request (its
 * body streamed from the web body), {@link NodeResponse} collects what the
 * handler writes into a web `Response` whose body streams as the handler
 * writes. `node:http` itself gives these classes, `STATUS_CODES` and
 * `METHODS`; servers and clients throw (no sockets: `fetch()` a declared
 * backend).
 *
 * @module
 */
import { Buffer } from './buffer.ts';
import { stream } from './stream.ts';

type ReadableClass = new (
  options?: object,
) => {
  push(chunk: unknown): boolean;
  destroy(error?: unknown): void;
};
type WritableClass = new (
  options?: object,
) => {
  emit(event: string, ...args: unknown[]): boolean;
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  write(chunk: unknown, encoding?: unknown, callback?: () => void): boolean;
  end(chunk?: unknown, encoding?: unknown, callback?: () => void): unknown;
  destroy(error?: unknown): unknown;
  destroyed: boolean;
  writableEnded: boolean;
  writableFinished: boolean;
};

const Readable = stream.Readable as ReadableClass;
const Writable = stream.Writable as WritableClass;

/** Reason phrases by status (Node's `http.STATUS_CODES`, the common ones). */
export const STATUS_CODES: Readonly<Record<number, string>> = Object.freeze({
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  410: 'Gone',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
});

const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'];

/** The socket a handler may look at: no address, no host access. */
function fakeSocket(encrypted: boolean): Record<string, unknown> {
  return {
    encrypted,
    remoteAddress: '127.0.0.1',
    remotePort: 0,
    localAddress: '127.0.0.1',
    localPort: 0,
    readable: true,
    writable: true,
    destroyed: false,
    setTimeout: () => {},
    setNoDelay: () => {},
    setKeepAlive: () => {},
    on: () => {},
    once: () => {},
    off: () => {},
    removeListener: () => {},
    destroy: () => {},
    end: () => {},
  };
}

/** `http.IncomingMessage`: a readable stream of the body with Node's fields. */
export class IncomingMessage extends Readable {
  method = 'GET';
  url = '/';
  headers: Record<string, string | string[]> = {};
  rawHeaders: string[] = [];
  trailers: Record<string, string> = {};
  rawTrailers: string[] = [];
  httpVersion = '1.1';
  httpVersionMajor = 1;
  httpVersionMinor = 1;
  complete = false;
  aborted = false;
  socket: Record<string, unknown>;
  connection: Record<string, unknown>;
  #body: ReadableStream<Uint8Array> | null = null;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  constructor(socket: Record<string, unknown> = fakeSocket(false)) {
    super();
    this.socket = socket;
    this.connection = socket;
  }

  /** Sets the web body this message streams. */
  setBody(body: ReadableStream<Uint8Array> | null): void {
    this.#body = body;
  }

  _read(): void {
    if (this.#body === null) {
      this.complete = true;
      this.push(null);
      return;
    }
    this.#reader ??= this.#body.getReader();
    this.#reader.read().then(
      ({ done, value }) => {
        if (done) {
          this.complete = true;
          this.push(null);
        } else
          this.push(Buffer.from(value.buffer as ArrayBuffer, value.byteOffset, value.byteLength));
      },
      (error: unknown) => this.destroy(error),
    );
  }

  setTimeout(): this {
    return this;
  }
}

/** Node's `req` for a web request: method, path and query, headers (lower-case), body. */
export function toNodeRequest(request: Request): IncomingMessage {
  const url = new URL(request.url);
  const req = new IncomingMessage(fakeSocket(url.protocol === 'https:'));
  req.method = request.method;
  req.url = `${url.pathname}${url.search}`;
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of request.headers) {
    req.rawHeaders.push(name, value);
    if (name === 'set-cookie') {
      const list = headers[name];
      headers[name] = Array.isArray(list) ? [...list, value] : [value];
    } else headers[name] = value;
  }
  if (headers.host === undefined) {
    headers.host = url.host;
    req.rawHeaders.push('host', url.host);
  }
  req.headers = headers;
  req.setBody(request.method === 'GET' || request.method === 'HEAD' ? null : request.body);
  return req;
}

type HeaderValue = string | number | readonly string[];

/**
 * `http.ServerResponse` whose output becomes a web `Response`
 * ({@link NodeResponse.response}): it resolves once the head is sent (the
 * first write, or `end`), its body streaming what the handler writes next.
 */
export class NodeResponse extends Writable {
  statusCode = 200;
  statusMessage = '';
  headersSent = false;
  sendDate = false;
  finished = false;
  chunkedEncoding = false;
  req: IncomingMessage | undefined;
  socket: Record<string, unknown> = fakeSocket(false);
  connection = this.socket;
  /** Resolves with the web response once the head is sent. */
  readonly response: Promise<Response>;
  #headers = new Map<string, { name: string; value: HeaderValue }>();
  #resolve!: (response: Response) => void;
  #reject!: (error: unknown) => void;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #body: ReadableStream<Uint8Array>;

  constructor(req?: IncomingMessage) {
    super({
      write: (chunk: Uint8Array, _encoding: string, callback: (error?: Error | null) => void) => {
        this.#sendHead();
        if (chunk.byteLength > 0) this.#controller.enqueue(new Uint8Array(chunk));
        callback();
      },
      final: (callback: (error?: Error | null) => void) => {
        this.#sendHead();
        this.finished = true;
        this.#controller.close();
        callback();
      },
      destroy: (error: Error | null, callback: (error?: Error | null) => void) => {
        if (!this.headersSent)
          this.#reject(error ?? new Error('response destroyed before its head was sent'));
        else if (error) this.#controller.error(error);
        else if (!this.finished) {
          try {
            this.#controller.close();
          } catch {
            // already closed
          }
        }
        callback(error);
      },
    });
    this.req = req;
    this.#body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
    });
    this.response = new Promise<Response>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** Rejects {@link response} (the handler threw before sending the head). */
  fail(error: unknown): void {
    if (!this.headersSent) this.#reject(error);
    else if (!this.finished) this.#controller.error(error);
  }

  #sendHead(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const headers = new Headers();
    for (const { name, value } of this.#headers.values()) {
      if (Array.isArray(value)) for (const v of value) headers.append(name, String(v));
      else headers.set(name, String(value));
    }
    const status = this.statusCode;
    const empty = status === 204 || status === 304 || this.req?.method === 'HEAD';
    this.#resolve(new Response(empty ? null : this.#body, { status, headers }));
  }

  setHeader(name: string, value: HeaderValue): this {
    this.#headers.set(name.toLowerCase(), { name, value });
    return this;
  }

  appendHeader(name: string, value: HeaderValue): this {
    const old = this.#headers.get(name.toLowerCase())?.value;
    const list = [
      ...(old === undefined ? [] : Array.isArray(old) ? old : [String(old)]),
      ...(Array.isArray(value) ? value : [String(value)]),
    ];
    return this.setHeader(name, list);
  }

  getHeader(name: string): HeaderValue | undefined {
    return this.#headers.get(name.toLowerCase())?.value;
  }

  getHeaders(): Record<string, HeaderValue> {
    const out: Record<string, HeaderValue> = Object.create(null);
    for (const [key, { value }] of this.#headers) out[key] = value;
    return out;
  }

  getHeaderNames(): string[] {
    return [...this.#headers.keys()];
  }

  hasHeader(name: string): boolean {
    return this.#headers.has(name.toLowerCase());
  }

  removeHeader(name: string): void {
    this.#headers.delete(name.toLowerCase());
  }

  writeHead(
    status: number,
    message?: string | Record<string, HeaderValue> | HeaderValue[],
    headers?: Record<string, HeaderValue> | HeaderValue[],
  ): this {
    this.statusCode = status;
    let list = headers;
    if (typeof message === 'string') this.statusMessage = message;
    else list = message;
    if (Array.isArray(list)) {
      for (let i = 0; i + 1 < list.length; i += 2)
        this.setHeader(String(list[i]), list[i + 1] as HeaderValue);
    } else if (list !== undefined) {
      for (const [name, value] of Object.entries(list)) this.setHeader(name, value);
    }
    return this;
  }

  flushHeaders(): void {
    this.#sendHead();
  }

  writeContinue(): void {}
  writeEarlyHints(): void {}
  setTimeout(): this {
    return this;
  }
  addTrailers(): void {}
  assignSocket(): void {}
  detachSocket(): void {}
}

/** `node:http` (see the module documentation). */
export function http(): Record<string, unknown> {
  const refuse = (what: string) => () => {
    throw new Error(
      `node:http ${what}() is not available in Flotilla's sandbox (an isolate has no sockets; fetch() a declared backend instead)`,
    );
  };
  const module: Record<string, unknown> = {
    IncomingMessage,
    ServerResponse: NodeResponse,
    STATUS_CODES,
    METHODS,
    createServer: refuse('createServer'),
    request: refuse('request'),
    get: refuse('get'),
    Agent: class Agent {},
    globalAgent: {},
  };
  module.default = module;
  return module;
}
