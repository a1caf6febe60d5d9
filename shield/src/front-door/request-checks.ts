/**
 * The front door's checks of a request's framing and size: what it refuses
 * (400, 413, 414, 431) before anything is routed, and the raw answer for a
 * request Node's parser refused before any handler ran.
 *
 * @module
 */
import { parseHost } from './location.ts';

/** The parts of a `node:http` `IncomingMessage` the front door reads. */
export interface FrontDoorRequest {
  method?: string | undefined;
  url?: string | undefined;
  httpVersion?: string;
  /** Name, value, name, value… as received. */
  rawHeaders: string[];
  socket: { remoteAddress?: string | undefined; encrypted?: boolean };
}

/** A request the front door refuses, and how to answer it. Close the connection after answering. */
export interface FrontDoorRejection {
  status: 400 | 405 | 413 | 414 | 431;
  /**
   * `FLOTILLA_ERR_BAD_REQUEST` (400), `FLOTILLA_ERR_METHOD_NOT_ALLOWED` (405),
   * `FLOTILLA_ERR_BODY_TOO_LARGE` (413), `FLOTILLA_ERR_URI_TOO_LONG` (414),
   * `FLOTILLA_ERR_HEADERS_TOO_LARGE` (431).
   */
  code: string;
  /** One line for the client, naming the problem. */
  message: string;
  /** Extra response headers (`allow` of a 405). */
  headers?: Record<string, string>;
}

/** The methods a 405 names in its `Allow` header: every one but `CONNECT` reaches the apps. */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/** The limits {@link checkRequest} and {@link parserRejection} apply ({@link FrontDoor} has them). */
export interface RequestLimits {
  /** Longest request target (path and query) accepted; longer → 414. */
  readonly maxUrlBytes: number;
  /** Largest header section accepted; larger → 431. */
  readonly maxHeaderBytes: number;
  /** Most header lines accepted; more → 431 ("too many headers"). */
  readonly maxHeaderCount: number;
  /** Largest announced `content-length` accepted; larger → 413. */
  readonly maxBodyBytes: number;
  /** The `maxHeaderSize` of the `node:http` server (request line and headers). */
  readonly serverMaxHeaderSize: number;
}

/** A `clientError` of a `node:http` server. */
export type ParserError = Error & { code?: string; reason?: string; rawPacket?: unknown };

const NONE: string[] = [];

function reject(status: FrontDoorRejection['status'], message: string): FrontDoorRejection {
  if (status === 405) {
    return {
      status,
      code: 'FLOTILLA_ERR_METHOD_NOT_ALLOWED',
      message,
      headers: { allow: ALLOWED_METHODS },
    };
  }
  const code =
    status === 400
      ? 'FLOTILLA_ERR_BAD_REQUEST'
      : status === 413
        ? 'FLOTILLA_ERR_BODY_TOO_LARGE'
        : status === 414
          ? 'FLOTILLA_ERR_URI_TOO_LONG'
          : 'FLOTILLA_ERR_HEADERS_TOO_LARGE';
  return { status, code, message };
}

/** The 405 for `CONNECT`: the shield is no forward proxy. */
export function connectRejection(): FrontDoorRejection {
  return reject(405, 'CONNECT is not served: the shield is no proxy');
}

/** What `FrontDoor.check` refuses (see there), or undefined. */
export function checkRequest(
  req: FrontDoorRequest,
  limits: RequestLimits,
): FrontDoorRejection | undefined {
  const target = req.url ?? '';
  // llhttp reads a request line without a version as HTTP/0.9; nothing
  // since 1996 sends one, and its answer would have no status line.
  const version = req.httpVersion ?? '1.1';
  if (version !== '1.1' && version !== '1.0') {
    return reject(
      400,
      version === '0.9'
        ? 'request line has no HTTP version (HTTP/1.0 or HTTP/1.1 expected)'
        : `HTTP/${version} is not supported (HTTP/1.0 or HTTP/1.1 expected)`,
    );
  }
  // llhttp accepts upper-case methods only.
  if (req.method === 'CONNECT') return connectRejection();
  if (target.length > limits.maxUrlBytes) {
    return reject(
      414,
      `request target is ${target.length} bytes, over the limit of ${limits.maxUrlBytes}`,
    );
  }
  const raw = req.rawHeaders;
  let headerBytes = 2;
  // Allocated only when such a header comes (this runs on every request).
  let lengths: string[] = NONE;
  let encodings: string[] = NONE;
  let hosts: string[] = NONE;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    headerBytes += name.length + value.length + 4;
    // Only these three names matter; most headers are longer or shorter.
    const n = name.length;
    if (n !== 4 && n !== 14 && n !== 17) continue;
    const lower = name.toLowerCase();
    if (lower === 'content-length') lengths = lengths === NONE ? [value] : [...lengths, value];
    else if (lower === 'transfer-encoding')
      encodings = encodings === NONE ? [value] : [...encodings, value];
    else if (lower === 'host') hosts = hosts === NONE ? [value] : [...hosts, value];
  }
  // Counted before the size: many tiny headers are "too many", not "too large".
  const count = raw.length >> 1;
  if (count > limits.maxHeaderCount) {
    return reject(
      431,
      `too many headers: the request has ${count}, over the limit of ${limits.maxHeaderCount}`,
    );
  }
  if (headerBytes > limits.maxHeaderBytes) {
    return reject(
      431,
      `request headers are ${headerBytes} bytes, over the limit of ${limits.maxHeaderBytes}`,
    );
  }
  if (lengths.length > 0 && encodings.length > 0) {
    return reject(400, 'request has both content-length and transfer-encoding');
  }
  if (encodings.length > 0) {
    const codings = encodings
      .join(',')
      .split(',')
      .map((c) => c.trim().toLowerCase());
    if (codings.length !== 1 || codings[0] !== 'chunked') {
      return reject(
        400,
        `transfer-encoding "${encodings.join(', ')}" is not supported: only "chunked"`,
      );
    }
  }
  if (lengths.length > 0) {
    const values = lengths
      .join(',')
      .split(',')
      .map((v) => v.trim());
    if (values.some((v) => !/^\d+$/.test(v))) {
      return reject(400, `content-length "${lengths.join(', ')}" is not a number`);
    }
    const distinct = new Set(values.map((v) => v.replace(/^0+(?=\d)/, '')));
    if (distinct.size > 1) {
      return reject(400, `conflicting content-length values: ${[...distinct].join(', ')}`);
    }
    const [declared = '0'] = distinct;
    if (declared.length > 15 || Number(declared) > limits.maxBodyBytes) {
      return reject(
        413,
        `request body of ${declared} bytes is over the limit of ${limits.maxBodyBytes}`,
      );
    }
  }
  if (hosts.length > 1) return reject(400, 'request has more than one host header');
  const host = hosts.length === 1 ? parseHost(hosts[0]) : undefined;
  if (hosts.length === 1 && !host) {
    return reject(400, `host header ${JSON.stringify(hosts[0])} is not a host name`);
  }
  if (hosts.length === 0 && req.httpVersion !== '1.0' && req.httpVersion !== '0.9') {
    return reject(400, 'request has no host header');
  }
  if (target.startsWith('/')) return undefined;
  if (target === '*' && (req.method ?? '').toUpperCase() === 'OPTIONS') return undefined;
  if (/^https?:\/\//i.test(target)) {
    let authority: string | undefined;
    try {
      authority = new URL(target).host;
    } catch {
      authority = undefined;
    }
    if (authority !== undefined && host && parseHost(authority)?.hostname === host.hostname) {
      return undefined;
    }
    return reject(400, 'absolute request target names another host than the host header');
  }
  return reject(400, `unsupported request target ${JSON.stringify(target.slice(0, 64))}`);
}

/**
 * The answer for a Node `clientError` (a request the parser refused before
 * any handler ran), or `undefined` when there is nothing to answer (a reset
 * or a timed-out connection). A header overflow is 414 when the overflowing
 * data is still the request line, else 431.
 */
export function parserRejection(
  err: ParserError,
  limits: RequestLimits,
): FrontDoorRejection | undefined {
  const code = err.code ?? '';
  if (!code.startsWith('HPE_')) return undefined;
  if (code === 'HPE_HEADER_OVERFLOW') {
    const packet = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : undefined;
    // The packet holds the start of the request: is its first line the long part?
    if (packet && /^[A-Z]+ /.test(packet.subarray(0, 32).toString('latin1'))) {
      const lineEnd = packet.indexOf('\r\n');
      if (lineEnd === -1 || lineEnd > limits.maxUrlBytes) {
        return reject(414, `request target is over the limit of ${limits.maxUrlBytes} bytes`);
      }
    }
    return reject(
      431,
      `request line and headers are over the limit of ${limits.serverMaxHeaderSize} bytes`,
    );
  }
  return reject(400, `malformed request: ${err.reason ?? code}`);
}

/**
 * A raw HTTP/1.1 response for a rejection, for a socket no `ServerResponse`
 * exists for (Node's `clientError`). Same shape as the shield's other error
 * answers: `text/plain`, `x-flotilla-error`, `cache-control: no-store`, and
 * `connection: close`.
 */
export function rejectionResponse(rejection: FrontDoorRejection): string {
  const reasons: Record<number, string> = {
    400: 'Bad Request',
    405: 'Method Not Allowed',
    413: 'Content Too Large',
    414: 'URI Too Long',
    431: 'Request Header Fields Too Large',
  };
  const body = `${rejection.code}: ${rejection.message.replace(/[\r\n]/g, ' ')}\n`;
  return [
    `HTTP/1.1 ${rejection.status} ${reasons[rejection.status] ?? 'Bad Request'}`,
    'content-type: text/plain; charset=utf-8',
    `x-flotilla-error: ${rejection.code}`,
    ...Object.entries(rejection.headers ?? {}).map(([name, value]) => `${name}: ${value}`),
    'cache-control: no-store',
    'connection: close',
    `content-length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}
