/**
 * The shield's front door: what it checks and believes about a request
 * before routing it, for a shield that sits behind a third-party CDN or a
 * load balancer (or faces clients directly).
 *
 * @module
 */
import { InvalidOptionError } from '@flotilla/protocol';
import { HEADER_NAME } from '@flotilla/protocol/patterns';
import { type LocationContext, parseHost, rewriteLocation } from './location.ts';
import {
  checkRequest,
  connectRejection,
  type FrontDoorRejection,
  type FrontDoorRequest,
  type ParserError,
  parserRejection,
  rejectionResponse,
} from './request-checks.ts';
import { normalizeIp, TrustedProxies } from './trusted-proxies.ts';
import { type UpstreamHeaderOptions, upstreamHeaders } from './upstream-headers.ts';
import { type UserAgentClass, UserAgentClassifier } from './user-agent.ts';

/** Who sent a request, as far as the front door believes. */
export interface ClientInfo {
  /** The client's address (canonical form, see `normalizeIp`); `''` when unknown. */
  ip: string;
  /** Geo header name (lower case) → value; empty unless the peer is a trusted proxy. */
  geo: Record<string, string>;
  /** True when the TCP peer is a trusted proxy (its forwarding headers were believed). */
  viaTrustedProxy: boolean;
  /** The scheme the client used: the socket's, or a trusted proxy's `x-forwarded-proto`. */
  protocol: 'http' | 'https';
}

/** A redirect {@link FrontDoor.redirectFor} asks for. */
export interface FrontDoorRedirect {
  /** 301 for GET and HEAD, 308 (method and body kept) for the rest. */
  status: 301 | 308;
  location: string;
}

/** Options of {@link FrontDoor}. */
export interface FrontDoorOptions {
  /**
   * The site's public host (`www.example.com`, optional `:port`). Every
   * redirect and absolute URL the shield sends uses it, so a `Host` header
   * from a CDN (an origin or private name) never leaks into a `Location`.
   * @default none: Locations may point at the request's host when the shield serves it
   */
  publicHost?: string;
  /** Scheme of URLs on the public host. @default 'https' */
  publicProtocol?: 'https' | 'http';
  /** Redirect plain-HTTP requests to `https://` (301, or 308 for other methods than GET/HEAD). @default false */
  httpsRedirect?: boolean;
  /**
   * Peers whose forwarding headers are believed: addresses, CIDR ranges
   * (IPv4 and IPv6), or `loopback` / `private` / `linklocal`.
   * @default [] (no peer is trusted; every `x-forwarded-*` is ignored)
   * @example ['10.0.0.0/8', '2001:db8::/32', 'loopback']
   */
  trustedProxies?: string[];
  /**
   * Header a trusted proxy puts the client address in: a list header such
   * as `x-forwarded-for` (read right to left, skipping trusted hops),
   * `forwarded` (its `for=` parameters), or a single-address header such
   * as `cf-connecting-ip` or `true-client-ip`. Needs `trustedProxies`.
   * @default none: the client is the TCP peer
   */
  clientIpHeader?: string;
  /**
   * Geo headers a trusted proxy adds (`cf-ipcountry`, `cloudfront-viewer-country`…),
   * read only from trusted peers. Needs `trustedProxies`.
   * @default []
   */
  geoHeaders?: string[];
  /** Longest request target (path and query) accepted; longer → 414. @default 16384 */
  maxUrlBytes?: number;
  /** Largest header section (names, values, separators) accepted; larger → 431. @default 32768 */
  maxHeaderBytes?: number;
  /**
   * Most header lines accepted; more → 431 "too many headers" (browsers
   * send about 20; a CDN adds a few).
   * @default 100
   */
  maxHeaderCount?: number;
  /** Largest announced `content-length` accepted; larger → 413. @default 1048576 */
  maxBodyBytes?: number;
  /**
   * True for host names (lower case, no port) the shield serves; used when
   * no `publicHost` is set, to decide whether a redirect may name the
   * request's host.
   * @default () => false
   */
  isServedHost?: (hostname: string) => boolean;
  /**
   * Hosts outside the site a `Location` may point at unchanged (an OAuth
   * provider, a payment page).
   * @default []
   */
  allowedRedirectHosts?: string[];
  /** Distinct `User-Agent` strings whose classification is remembered. @default 2000 */
  userAgentCacheEntries?: number;
}

// Room for the method, the version and the CRLFs around the request line.
const REQUEST_LINE_SLACK = 1024;

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (!Number.isSafeInteger(v) || v <= 0) {
    throw new InvalidOptionError(name, `must be a positive integer, got ${String(value)}`);
  }
  return v;
}

function headerName(name: string, value: unknown): string {
  if (typeof value !== 'string' || !HEADER_NAME.test(value.trim().toLowerCase())) {
    throw new InvalidOptionError(name, `must be a header name, got ${JSON.stringify(value)}`);
  }
  return value.trim().toLowerCase();
}

/** The path and query of a request target, whatever its form (`*` → `/`). */
export function originForm(target: string | undefined): string {
  const t = target ?? '/';
  if (t.startsWith('/')) return t;
  if (/^https?:\/\//i.test(t)) {
    try {
      const url = new URL(t);
      return `${url.pathname}${url.search}`;
    } catch {
      return '/';
    }
  }
  return '/';
}

/**
 * The front door. One per shield; plain methods the request path calls in
 * order: {@link check} (refuse), {@link redirectFor} (HTTP → HTTPS),
 * {@link clientInfo} (who is asking), {@link classify} (device and browser),
 * {@link upstreamHeaders} (what the render sees), {@link rewriteLocation}
 * (what the browser is sent to).
 *
 * @example
 * const door = new FrontDoor({
 *   publicHost: 'www.example.com',
 *   httpsRedirect: true,
 *   trustedProxies: ['10.0.0.0/8'],
 *   clientIpHeader: 'x-forwarded-for',
 *   geoHeaders: ['cf-ipcountry'],
 * });
 * const server = createServer(
 *   { maxHeaderSize: door.serverMaxHeaderSize, requireHostHeader: false },
 *   (req, res) => {
 *     const bad = door.check(req);
 *     if (bad) { res.writeHead(bad.status, { connection: 'close' }).end(bad.message); return; }
 *     const redirect = door.redirectFor(req);
 *     if (redirect) { res.writeHead(redirect.status, { location: redirect.location }).end(); return; }
 *     // …
 *   },
 * );
 * server.maxHeadersCount = 0;
 * server.on('clientError', (err, socket) => door.handleClientError(err, socket));
 * server.on('connect', (req, socket) => door.handleConnect(req, socket));
 */
export class FrontDoor {
  readonly publicHost: string | undefined;
  readonly publicProtocol: 'https' | 'http';
  readonly httpsRedirect: boolean;
  readonly clientIpHeader: string | undefined;
  readonly geoHeaders: readonly string[];
  readonly maxUrlBytes: number;
  readonly maxHeaderBytes: number;
  readonly maxHeaderCount: number;
  readonly maxBodyBytes: number;
  readonly #proxies: TrustedProxies;
  readonly #isServedHost: (hostname: string) => boolean;
  readonly #allowedHosts: ReadonlySet<string>;
  readonly #userAgents: UserAgentClassifier;
  // Sockets a rejection from check() is being written on (see handleClientError).
  readonly #rejected = new WeakSet<object>();

  constructor(options: FrontDoorOptions = {}) {
    if (options.publicHost !== undefined) {
      const parts = parseHost(options.publicHost);
      if (!parts || options.publicHost.trim().toLowerCase() !== options.publicHost.trim()) {
        throw new InvalidOptionError(
          'publicHost',
          `must be a lower-case host name with an optional port, got ${JSON.stringify(options.publicHost)}`,
        );
      }
      this.publicHost = parts.host;
    }
    const protocol = options.publicProtocol ?? 'https';
    if (protocol !== 'https' && protocol !== 'http') {
      throw new InvalidOptionError('publicProtocol', `must be "https" or "http", got ${protocol}`);
    }
    this.publicProtocol = protocol;
    if (options.httpsRedirect !== undefined && typeof options.httpsRedirect !== 'boolean') {
      throw new InvalidOptionError('httpsRedirect', 'must be a boolean');
    }
    this.httpsRedirect = options.httpsRedirect ?? false;
    if (this.httpsRedirect && this.publicHost && protocol !== 'https') {
      throw new InvalidOptionError('publicProtocol', 'must be "https" when httpsRedirect is on');
    }
    this.#proxies = new TrustedProxies(options.trustedProxies ?? [], 'trustedProxies');
    if (options.clientIpHeader !== undefined) {
      this.clientIpHeader = headerName('clientIpHeader', options.clientIpHeader);
      if (this.#proxies.size === 0) {
        throw new InvalidOptionError(
          'clientIpHeader',
          'needs trustedProxies: it is read only from them',
        );
      }
    }
    const geo = options.geoHeaders ?? [];
    if (!Array.isArray(geo)) throw new InvalidOptionError('geoHeaders', 'must be an array');
    this.geoHeaders = Object.freeze(geo.map((g, i) => headerName(`geoHeaders[${i}]`, g)));
    if (this.geoHeaders.length > 0 && this.#proxies.size === 0) {
      throw new InvalidOptionError(
        'geoHeaders',
        'needs trustedProxies: they are read only from them',
      );
    }
    this.maxUrlBytes = positiveInt('maxUrlBytes', options.maxUrlBytes, 16384);
    this.maxHeaderBytes = positiveInt('maxHeaderBytes', options.maxHeaderBytes, 32768);
    this.maxHeaderCount = positiveInt('maxHeaderCount', options.maxHeaderCount, 100);
    this.maxBodyBytes = positiveInt('maxBodyBytes', options.maxBodyBytes, 1024 * 1024);
    if (options.isServedHost !== undefined && typeof options.isServedHost !== 'function') {
      throw new InvalidOptionError('isServedHost', 'must be a function');
    }
    this.#isServedHost = options.isServedHost ?? (() => false);
    const allowed = options.allowedRedirectHosts ?? [];
    if (!Array.isArray(allowed))
      throw new InvalidOptionError('allowedRedirectHosts', 'must be an array');
    this.#allowedHosts = new Set(
      allowed.map((h, i) => {
        const parts = parseHost(h);
        if (!parts) {
          throw new InvalidOptionError(
            `allowedRedirectHosts[${i}]`,
            `is not a host: ${JSON.stringify(h)}`,
          );
        }
        return parts.host;
      }),
    );
    this.#userAgents = new UserAgentClassifier({
      maxEntries: options.userAgentCacheEntries ?? 2000,
    });
  }

  /**
   * `maxHeaderSize` to create the `node:http` server with: the URL and
   * header limits plus room for the request line, so that a request within
   * both limits reaches the handler and {@link check} tells 414 from 431.
   * Past it Node answers by itself (431, see {@link clientErrorRejection}).
   */
  get serverMaxHeaderSize(): number {
    return this.maxUrlBytes + this.maxHeaderBytes + REQUEST_LINE_SLACK;
  }

  /**
   * Refuses what the shield must not serve, or returns `undefined`:
   * - a request line without an HTTP version (HTTP/0.9), or a version other
   *   than 1.0 and 1.1 → 400;
   * - `CONNECT` → 405 (the shield is no proxy; Node sends it to the
   *   server's `connect` listener, {@link handleConnect});
   * - request target over `maxUrlBytes` → 414;
   * - more than `maxHeaderCount` header lines → 431 "too many headers";
   * - header section over `maxHeaderBytes` → 431;
   * - both `content-length` and `transfer-encoding`, a `transfer-encoding`
   *   other than exactly `chunked`, `content-length` values that differ or
   *   are not digits → 400; an announced body over `maxBodyBytes` → 413;
   * - more than one `Host`, a `Host` that is not `name[:port]`, none on
   *   HTTP/1.1 → 400;
   * - a target that is not origin-form (`/…`), `*` (OPTIONS only) or
   *   absolute-form naming the `Host` → 400.
   * Node's parser already refuses (with a bare 400 before the handler runs,
   * see {@link clientErrorRejection}): repeated `content-length` (equal or
   * not), `content-length` with `transfer-encoding`, a repeated or empty
   * `transfer-encoding`, non-digit `content-length`, obs-fold, whitespace
   * before a colon, and a header section (request line included) over the
   * server's `maxHeaderSize` (431); create the server with
   * `requireHostHeader: false`, so that a missing `Host` gets this answer
   * rather than Node's bare 400. It lets through, and
   * this refuses: `transfer-encoding: gzip` / `identity` / `gzip, chunked`,
   * a repeated `Host`, and long URLs and headers within `maxHeaderSize`.
   *
   * Answer a rejection with `connection: close` (its body, if any, is not
   * read). The socket is remembered so that {@link handleClientError} does
   * not answer a second time when Node's parser then trips over that body.
   */
  check(req: FrontDoorRequest): FrontDoorRejection | undefined {
    const rejection = checkRequest(req, this);
    if (rejection) this.#rejected.add(req.socket);
    return rejection;
  }

  /**
   * The answer for a Node `clientError` (a request the parser refused
   * before any handler ran), or `undefined` when there is nothing to answer
   * (a reset or a timed-out connection). A header overflow is 414 when the
   * overflowing data is still the request line, else 431.
   *
   * {@link handleClientError} answers with it.
   */
  clientErrorRejection(err: ParserError): FrontDoorRejection | undefined {
    return parserRejection(err, this);
  }

  /**
   * A `clientError` listener for the `node:http` server: answers a request
   * Node's parser refused with {@link rejectionResponse} of
   * {@link clientErrorRejection}, unless an answer is already on its way on
   * that socket (a rejection from {@link check}, whose unread body the
   * parser then refuses, or a response already started), and closes the
   * connection.
   *
   * @example
   * server.on('clientError', (err, socket) => door.handleClientError(err, socket));
   */
  handleClientError(
    err: ParserError,
    socket: { writable: boolean; end(data: string): unknown; destroy(): unknown },
  ): void {
    // check() rejected a request on this socket: its answer (with
    // `connection: close`) is being written and ends the connection.
    if (this.#rejected.has(socket)) return;
    // Node's own rule (`socketOnError`): never write into a response in flight.
    const inFlight = Reflect.get(socket, '_httpMessage') as { headersSent?: boolean } | undefined;
    const rejection = this.clientErrorRejection(err);
    if (rejection && socket.writable && !inFlight?.headersSent) {
      socket.end(rejectionResponse(rejection));
    } else {
      socket.destroy();
    }
  }

  /**
   * A `connect` listener for the `node:http` server: answers `CONNECT` with
   * 405 `FLOTILLA_ERR_METHOD_NOT_ALLOWED` (with `Allow`) and closes the
   * connection. Without a listener Node drops such a connection unanswered.
   * Returns the rejection sent (for metrics).
   *
   * @example
   * server.on('connect', (req, socket) => door.handleConnect(req, socket));
   */
  handleConnect(
    req: FrontDoorRequest,
    socket: { writable: boolean; end(data: string): unknown; destroy(): unknown },
  ): FrontDoorRejection {
    const rejection = checkRequest(req, this) ?? connectRejection();
    if (socket.writable) socket.end(rejectionResponse(rejection));
    else socket.destroy();
    return rejection;
  }

  /** The client's scheme: TLS on the socket, or a trusted proxy's `x-forwarded-proto`. */
  protocolOf(req: FrontDoorRequest): 'http' | 'https' {
    if (req.socket.encrypted) return 'https';
    if (!this.#proxies.has(req.socket.remoteAddress)) return 'http';
    // The leftmost entry is the scheme the first proxy saw from the client.
    const first = addressEntries(req.rawHeaders, 'x-forwarded-proto')[0]?.trim().toLowerCase();
    return first === 'https' ? 'https' : 'http';
  }

  /**
   * Who sent the request. From a trusted proxy: the address in
   * `clientIpHeader` (list headers read right to left, skipping trusted
   * hops; the first untrusted entry is the client; an entry that is no
   * address stops the walk at the hop that reported it) and the
   * `geoHeaders` (last occurrence of each). From anyone else: the socket's
   * address and no geo, whatever headers were sent.
   */
  clientInfo(req: FrontDoorRequest): ClientInfo {
    const peer = normalizeIp(req.socket.remoteAddress) ?? '';
    const protocol = this.protocolOf(req);
    if (!this.#proxies.has(peer)) return { ip: peer, geo: {}, viaTrustedProxy: false, protocol };
    let ip = peer;
    if (this.clientIpHeader) {
      const entries = addressEntries(req.rawHeaders, this.clientIpHeader);
      for (let i = entries.length - 1; i >= 0; i--) {
        const hop = normalizeIp(entries[i]);
        if (hop === undefined) break;
        ip = hop;
        if (!this.#proxies.has(hop)) break;
      }
    }
    const geo: Record<string, string> = {};
    for (const name of this.geoHeaders) {
      const value = lastHeader(req.rawHeaders, name);
      if (value !== undefined && value !== '') geo[name] = value;
    }
    return { ip, geo, viaTrustedProxy: true, protocol };
  }

  /**
   * The HTTP → HTTPS redirect for a plain-HTTP request when `httpsRedirect`
   * is on, or `undefined`. The target is `https://<publicHost><path?query>`;
   * with no public host, the request's host when {@link FrontDoorOptions.isServedHost}
   * says the shield serves it (else no redirect: an unknown host never lands in a Location).
   */
  redirectFor(req: FrontDoorRequest): FrontDoorRedirect | undefined {
    if (!this.httpsRedirect || this.protocolOf(req) === 'https') return undefined;
    let host = this.publicHost;
    if (!host) {
      const parts = parseHost(firstHeader(req.rawHeaders, 'host'));
      if (!parts || !this.#isServedHost(parts.hostname)) return undefined;
      host = parts.host;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    return {
      status: method === 'GET' || method === 'HEAD' ? 301 : 308,
      location: rewriteLocation(`https://${host}${originForm(req.url)}`, {
        publicHost: host,
        publicProtocol: 'https',
      }),
    };
  }

  /**
   * A `Location` (from the render, or any redirect the shield builds) made
   * safe: see {@link rewriteLocation}. Relative values stay relative;
   * absolute ones point at the public host, or with none configured at a
   * served host.
   *
   * @param requestHost - The request's `Host` header.
   * @param isServedHost - Overrides {@link FrontDoorOptions.isServedHost} for this call.
   */
  rewriteLocation(
    location: string,
    requestHost: string | undefined,
    isServedHost?: (hostname: string) => boolean,
  ): string {
    const ctx: LocationContext = {
      publicHost: this.publicHost,
      publicProtocol: this.publicProtocol,
      requestHost,
      isServedHost: isServedHost ?? this.#isServedHost,
      allowedHosts: this.#allowedHosts,
    };
    return rewriteLocation(location, ctx);
  }

  /** Device class and browser family of the request's `User-Agent` (memoised). */
  classify(req: FrontDoorRequest): UserAgentClass {
    return this.#userAgents.classify(firstHeader(req.rawHeaders, 'user-agent'));
  }

  /**
   * {@link upstreamHeaders} for a request, with the device and browser from
   * {@link classify}, and the `clientIpHeader` and `geoHeaders` dropped in
   * `pass` mode too (pass the believed {@link clientInfo} in `extra` instead).
   */
  upstreamHeaders(
    req: FrontDoorRequest,
    options: UpstreamHeaderOptions = {},
  ): Array<[string, string]> {
    const { device, browser, isBot, vendor } = this.classify(req);
    const drop = [...(options.drop ?? []), ...this.geoHeaders];
    if (this.clientIpHeader) drop.push(this.clientIpHeader);
    return upstreamHeaders(req.rawHeaders, {
      device,
      browser,
      isBot,
      vendor,
      ...options,
      drop,
    });
  }
}

function firstHeader(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name) return raw[i + 1] as string;
  }
  return undefined;
}

function lastHeader(raw: readonly string[], name: string): string | undefined {
  let found: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === name) found = raw[i + 1] as string;
  }
  return found?.trim();
}

/** The comma-separated entries of a header (for `forwarded`: its `for=` values), left to right, across repeats. */
function addressEntries(raw: readonly string[], name: string): string[] {
  const entries: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() !== name) continue;
    for (const element of (raw[i + 1] as string).split(',')) {
      if (name !== 'forwarded') {
        entries.push(element);
        continue;
      }
      // RFC 7239: `for=192.0.2.60;proto=http;by=203.0.113.43`; an element
      // without `for=` says nothing about the client: stop there.
      const param = element
        .split(';')
        .map((p) => p.trim())
        .find((p) => p.toLowerCase().startsWith('for='));
      entries.push(param ? param.slice(4) : '');
    }
  }
  return entries;
}
