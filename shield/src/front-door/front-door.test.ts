import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { computeCacheKey, DEFAULT_CACHE_KEY_SPEC } from '@flotilla/manifest';
import { FlotillaError } from '@flotilla/protocol';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FrontDoor, type FrontDoorOptions, originForm } from './front-door.ts';
import { type FrontDoorRequest, rejectionResponse } from './request-checks.ts';
import { headerRecord } from './upstream-headers.ts';

// ---- a node:http server whose handler runs FrontDoor.check ------------------------

interface Harness {
  server: Server;
  port: number;
  door: FrontDoor;
  /** Request targets the handler saw (Node's parser let them through). */
  reached: string[];
}

type Handler = (req: IncomingMessage, res: ServerResponse, door: FrontDoor) => void;

function echo(req: IncomingMessage, res: ServerResponse, door: FrontDoor): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.stringify({
      info: door.clientInfo(req),
      headers: req.headers,
      record: headerRecord(req.rawHeaders),
      body: Buffer.concat(chunks).toString(),
    });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    });
    res.end(body);
  });
}

async function startHarness(options: FrontDoorOptions, handler: Handler = echo): Promise<Harness> {
  const door = new FrontDoor(options);
  const reached: string[] = [];
  const server = createServer({ maxHeaderSize: door.serverMaxHeaderSize }, (req, res) => {
    reached.push(req.url ?? '');
    const bad = door.check(req);
    if (bad) {
      const text = `${bad.code}: ${bad.message}\n`;
      res.writeHead(bad.status, {
        'x-flotilla-error': bad.code,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        connection: 'close',
      });
      res.end(text);
      return;
    }
    const redirect = door.redirectFor(req);
    if (redirect) {
      res.writeHead(redirect.status, { location: redirect.location, connection: 'close' });
      res.end();
      return;
    }
    handler(req, res, door);
  });
  server.on('clientError', (err, socket) => door.handleClientError(err, socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, door, reached };
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server wrote on the connection. */
  raw: string;
}

/** Writes `text` on a fresh TCP connection and reads until the server closes it. */
function rawRequest(port: number, text: string | Buffer): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('no answer in 5 s')), 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      // A reset after the answer still counts as an answer.
      if (chunks.length === 0) {
        clearTimeout(timer);
        reject(err);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const headEnd = raw.indexOf('\r\n\r\n');
      const [statusLine = '', ...lines] = raw.slice(0, headEnd).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: raw.slice(headEnd + 4),
        raw,
      });
    });
    socket.write(text);
  });
}

function get(path: string, headers: string[] = [], host = 'shop.example'): string {
  return [`GET ${path} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...headers, '', ''].join(
    '\r\n',
  );
}

function post(headers: string[], body: string): string {
  return [
    'POST /submit HTTP/1.1',
    'Host: shop.example',
    'Connection: close',
    ...headers,
    '',
    body,
  ].join('\r\n');
}

// ---- options -----------------------------------------------------------------------

describe('FrontDoor options', () => {
  it('has the documented defaults', () => {
    const door = new FrontDoor();
    expect(door.maxUrlBytes).toBe(16384);
    expect(door.maxHeaderBytes).toBe(32768);
    expect(door.maxHeaderCount).toBe(100);
    expect(door.maxBodyBytes).toBe(1048576);
    expect(door.httpsRedirect).toBe(false);
    expect(door.publicHost).toBeUndefined();
    expect(door.serverMaxHeaderSize).toBeGreaterThan(16384 + 32768);
  });

  it.each<[FrontDoorOptions, RegExp]>([
    [{ publicHost: 'www.example.com/x' }, /publicHost/],
    [{ publicHost: 'WWW.example.com' }, /publicHost/],
    [{ publicHost: 'user@www.example.com' }, /publicHost/],
    [{ publicProtocol: 'ftp' as 'http' }, /publicProtocol/],
    [{ publicHost: 'a.example', publicProtocol: 'http', httpsRedirect: true }, /publicProtocol/],
    [{ httpsRedirect: 'yes' as unknown as boolean }, /httpsRedirect/],
    [{ trustedProxies: ['10.0.0.0/8', 'cdn'] }, /trustedProxies\[1\]/],
    [{ clientIpHeader: 'x-forwarded-for' }, /clientIpHeader.*trustedProxies/],
    [{ trustedProxies: ['loopback'], clientIpHeader: 'bad header' }, /clientIpHeader/],
    [{ geoHeaders: ['cf-ipcountry'] }, /geoHeaders.*trustedProxies/],
    [{ trustedProxies: ['loopback'], geoHeaders: ['ok', 'not ok'] }, /geoHeaders\[1\]/],
    [{ maxUrlBytes: 0 }, /maxUrlBytes/],
    [{ maxHeaderBytes: 1.5 }, /maxHeaderBytes/],
    [{ maxBodyBytes: -1 }, /maxBodyBytes/],
    [{ maxHeaderCount: 0 }, /maxHeaderCount/],
    [{ isServedHost: true as unknown as () => boolean }, /isServedHost/],
    [{ allowedRedirectHosts: ['ok.example', 'a/b'] }, /allowedRedirectHosts\[1\]/],
    [{ userAgentCacheEntries: -5 }, /maxEntries/],
  ])('refuses %j', (options, message) => {
    expect(() => new FrontDoor(options)).toThrow(FlotillaError);
    expect(() => new FrontDoor(options)).toThrow(message);
  });
});

// ---- limits over real HTTP -------------------------------------------------------

describe('FrontDoor.check over HTTP', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ maxBodyBytes: 1000 });
  });
  afterAll(() => new Promise<void>((r) => h.server.close(() => r())));

  it('lets an ordinary GET and a chunked POST through', async () => {
    expect((await rawRequest(h.port, get('/ok'))).status).toBe(200);
    const res = await rawRequest(
      h.port,
      post(['Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n\r\n'),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).body).toBe('hello');
    const cl = await rawRequest(h.port, post(['Content-Length: 5'], 'hello'));
    expect(JSON.parse(cl.body).body).toBe('hello');
  });

  it('answers 414 for a URL over 16 KB, from the handler', async () => {
    const path = `/long?${'a'.repeat(16_400)}`;
    const res = await rawRequest(h.port, get(path));
    expect(res.status).toBe(414);
    expect(res.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_URI_TOO_LONG');
    expect(h.reached).toContain(path);
    expect((await rawRequest(h.port, get(`/fits?${'a'.repeat(16_000)}`))).status).toBe(200);
  });

  it('answers 431 for headers over 32 KB, from the handler', async () => {
    const res = await rawRequest(h.port, get('/big-headers', [`X-Pad: ${'a'.repeat(33_000)}`]));
    expect(res.status).toBe(431);
    expect(res.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_HEADERS_TOO_LARGE');
    expect(h.reached).toContain('/big-headers');
    const many = Array.from({ length: 45 }, (_, i) => `X-Pad-${i}: ${'b'.repeat(800)}`);
    expect((await rawRequest(h.port, get('/many-headers', many))).status).toBe(431);
    const fits = Array.from({ length: 30 }, (_, i) => `X-Pad-${i}: ${'b'.repeat(800)}`);
    expect((await rawRequest(h.port, get('/fits-headers', fits))).status).toBe(200);
  });

  it("past the server's maxHeaderSize Node refuses before the handler; clientError tells 414 from 431", async () => {
    const longUrl = `/huge?${'a'.repeat(60_000)}`;
    const url = await rawRequest(h.port, get(longUrl));
    expect(url.status).toBe(414);
    expect(url.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_URI_TOO_LONG');
    expect(h.reached).not.toContain(longUrl);
    const headers = await rawRequest(
      h.port,
      get('/huge-headers', [`X-Pad: ${'a'.repeat(60_000)}`]),
    );
    expect(headers.status).toBe(431);
    expect(headers.headers.connection).toBe('close');
    expect(h.reached).not.toContain('/huge-headers');
  });

  it('refuses transfer-encodings other than chunked (Node lets them reach the handler)', async () => {
    for (const te of ['gzip', 'identity', 'gzip, chunked', 'chunked;q=1']) {
      const before = h.reached.length;
      const res = await rawRequest(h.port, post([`Transfer-Encoding: ${te}`], '0\r\n\r\n'));
      expect(res.status, te).toBe(400);
      expect(res.headers['x-flotilla-error'], te).toBe('FLOTILLA_ERR_BAD_REQUEST');
      expect(h.reached.length, `${te} reached the handler`).toBe(before + 1);
      // One answer only: the handler's, not a second one from clientError.
      expect(res.raw.match(/HTTP\/1\.1 /g)?.length, te).toBe(1);
    }
    const upper = await rawRequest(h.port, post(['Transfer-Encoding: CHUNKED'], '0\r\n\r\n'));
    expect(upper.status).toBe(200);
  });

  it('leaves framing conflicts Node already refuses to Node: 400 before the handler', async () => {
    const cases = [
      ['Content-Length: 5', 'Content-Length: 6'],
      ['Content-Length: 5', 'Content-Length: 5'],
      ['Content-Length: 5, 6'],
      ['Content-Length: 5', 'Transfer-Encoding: chunked'],
      ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'],
      ['Transfer-Encoding: '],
      ['Content-Length: -1'],
    ];
    for (const headers of cases) {
      const before = h.reached.length;
      const res = await rawRequest(h.port, post(headers, 'hello'));
      expect(res.status, headers.join(' | ')).toBe(400);
      expect(res.headers['x-flotilla-error'], headers.join(' | ')).toBe('FLOTILLA_ERR_BAD_REQUEST');
      expect(h.reached.length, headers.join(' | ')).toBe(before);
    }
  });

  it('answers 413 for an announced body over maxBodyBytes', async () => {
    const res = await rawRequest(h.port, post(['Content-Length: 5000'], 'x'.repeat(5000)));
    expect(res.status).toBe(413);
    expect(res.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_BODY_TOO_LARGE');
  });

  it('refuses a repeated or malformed Host, and absolute targets naming another host', async () => {
    const dup = await rawRequest(h.port, get('/dup-host', ['Host: evil.example']));
    expect(dup.status).toBe(400);
    expect(dup.body).toMatch(/more than one host/);
    expect(h.reached).toContain('/dup-host');
    expect((await rawRequest(h.port, get('/x', [], 'evil.example@shop.example'))).status).toBe(400);
    expect((await rawRequest(h.port, get('http://evil.example/x'))).status).toBe(400);
    expect((await rawRequest(h.port, get('http://SHOP.example/abs'))).status).toBe(200);
  });

  it('headerRecord reads headers exactly as IncomingMessage#headers does', async () => {
    const names = ['User-Agent', 'Accept', 'Cookie', 'X-Tenant', 'Content-Type', 'Referer', 'DNT'];
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...names), fc.stringMatching(/^[!-~][ -~]{0,10}$/)), {
          maxLength: 8,
        }),
        async (pairs) => {
          const res = await rawRequest(
            h.port,
            get(
              '/record',
              pairs.map(([n, v]) => `${n}: ${v.trim()}`),
            ),
          );
          const body = JSON.parse(res.body) as { headers: object; record: object };
          expect(body.record).toEqual(body.headers);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('FrontDoor.check without HTTP', () => {
  const door = new FrontDoor({ maxBodyBytes: 100 });
  const req = (rawHeaders: string[], url = '/', method = 'GET'): FrontDoorRequest => ({
    method,
    url,
    httpVersion: '1.1',
    rawHeaders: ['Host', 'shop.example', ...rawHeaders],
    socket: { remoteAddress: '127.0.0.1' },
  });

  it('catches what Node catches too (for a parser run in lenient mode)', () => {
    expect(door.check(req(['Content-Length', '5', 'Content-Length', '6']))?.status).toBe(400);
    expect(door.check(req(['Content-Length', '5', 'Content-Length', '005']))).toBeUndefined();
    expect(
      door.check(req(['Content-Length', '5', 'Transfer-Encoding', 'chunked']))?.message,
    ).toMatch(/both/);
    expect(door.check(req(['Content-Length', 'abc']))?.status).toBe(400);
    expect(door.check(req(['Content-Length', '99999999999999999999']))?.status).toBe(413);
    expect(
      door.check(req(['Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked']))?.status,
    ).toBe(400);
  });

  it('wants a Host on HTTP/1.1, and accepts OPTIONS *', () => {
    const noHost: FrontDoorRequest = { ...req([]), rawHeaders: [] };
    expect(door.check(noHost)?.message).toMatch(/no host/);
    expect(door.check({ ...noHost, httpVersion: '1.0' })).toBeUndefined();
    expect(door.check(req([], '*', 'OPTIONS'))).toBeUndefined();
    expect(door.check(req([], '*', 'GET'))?.status).toBe(400);
    expect(door.check(req([], 'shop.example:443', 'CONNECT'))?.status).toBe(405);
  });

  it('wants HTTP/1.0 or 1.1, and at most maxHeaderCount headers', () => {
    expect(door.check({ ...req([]), httpVersion: '0.9' })?.message).toMatch(/no HTTP version/);
    expect(door.check({ ...req([]), httpVersion: '2.0' })?.message).toMatch(/HTTP\/2.0/);
    const pairs = (n: number) => Array.from({ length: n }, (_, i) => [`x-${i}`, 'a']).flat();
    expect(door.check(req(pairs(99)))).toBeUndefined();
    expect(door.check(req(pairs(100)))).toMatchObject({
      status: 431,
      message: 'too many headers: the request has 101, over the limit of 100',
    });
    const few = new FrontDoor({ maxHeaderCount: 3 });
    expect(few.check(req(pairs(3)))?.status).toBe(431);
  });

  it('maps parser errors to rejections', () => {
    const parseError = (code: string, rawPacket?: Buffer) =>
      Object.assign(new Error(code), { code, reason: 'because', rawPacket });
    expect(door.clientErrorRejection(parseError('HPE_INVALID_TRANSFER_ENCODING'))?.status).toBe(
      400,
    );
    expect(door.clientErrorRejection(parseError('ECONNRESET'))).toBeUndefined();
    expect(
      door.clientErrorRejection(parseError('HPE_HEADER_OVERFLOW', Buffer.from('GET /aaaaaaaa')))
        ?.status,
    ).toBe(414);
    expect(
      door.clientErrorRejection(
        parseError('HPE_HEADER_OVERFLOW', Buffer.from('GET / HTTP/1.1\r\nX-A: aaaaa')),
      )?.status,
    ).toBe(431);
    // A later packet, in the middle of a header value: headers, not the URL.
    expect(
      door.clientErrorRejection(parseError('HPE_HEADER_OVERFLOW', Buffer.from('aaaaaaaa')))?.status,
    ).toBe(431);
  });
});

// ---- trusted proxies over real HTTP ---------------------------------------------

describe('FrontDoor.clientInfo', () => {
  it('believes forwarding headers from a trusted peer (127.0.0.1 here)', async () => {
    const h = await startHarness({
      trustedProxies: ['loopback', '10.0.0.0/8'],
      clientIpHeader: 'x-forwarded-for',
      geoHeaders: ['cf-ipcountry'],
    });
    try {
      const res = await rawRequest(
        h.port,
        get('/who', [
          'X-Forwarded-For: 198.51.100.1, 203.0.113.9, 10.1.1.1',
          'CF-IPCountry: FR',
          'X-Forwarded-Proto: https',
        ]),
      );
      expect(JSON.parse(res.body).info).toEqual({
        ip: '203.0.113.9',
        geo: { 'cf-ipcountry': 'FR' },
        viaTrustedProxy: true,
        protocol: 'https',
      });
    } finally {
      await new Promise<void>((r) => h.server.close(() => r()));
    }
  });

  it('ignores them from an untrusted peer', async () => {
    const h = await startHarness({
      trustedProxies: ['10.0.0.0/8'],
      clientIpHeader: 'x-forwarded-for',
      geoHeaders: ['cf-ipcountry'],
    });
    try {
      const res = await rawRequest(
        h.port,
        get('/who', [
          'X-Forwarded-For: 198.51.100.1',
          'CF-IPCountry: FR',
          'X-Forwarded-Proto: https',
        ]),
      );
      expect(JSON.parse(res.body).info).toEqual({
        ip: '127.0.0.1',
        geo: {},
        viaTrustedProxy: false,
        protocol: 'http',
      });
    } finally {
      await new Promise<void>((r) => h.server.close(() => r()));
    }
  });

  const fake = (remoteAddress: string, headers: string[]): FrontDoorRequest => ({
    method: 'GET',
    url: '/',
    rawHeaders: headers,
    socket: { remoteAddress },
  });

  it('walks x-forwarded-for right to left, across repeated headers, skipping trusted hops', () => {
    const door = new FrontDoor({
      trustedProxies: ['10.0.0.0/8', '2001:db8::/32'],
      clientIpHeader: 'x-forwarded-for',
    });
    const info = (peer: string, ...xff: string[]) =>
      door.clientInfo(
        fake(
          peer,
          xff.flatMap((v) => ['X-Forwarded-For', v]),
        ),
      ).ip;
    expect(info('10.0.0.1', '1.1.1.1, 2.2.2.2')).toBe('2.2.2.2');
    expect(info('10.0.0.1', '1.1.1.1', '2.2.2.2, 10.0.0.9')).toBe('2.2.2.2');
    expect(info('::ffff:10.0.0.1', '[2001:db9::5]:443, 2001:db8::7')).toBe('2001:db9::5');
    expect(info('10.0.0.1', '10.0.0.5, 10.0.0.6')).toBe('10.0.0.5');
    expect(info('10.0.0.1', '1.1.1.1, garbage, 10.0.0.6')).toBe('10.0.0.6');
    expect(info('10.0.0.1')).toBe('10.0.0.1');
    expect(info('203.0.113.5', '1.1.1.1')).toBe('203.0.113.5');
  });

  it('reads single-address headers and RFC 7239 Forwarded', () => {
    const cf = new FrontDoor({
      trustedProxies: ['10.0.0.0/8'],
      clientIpHeader: 'CF-Connecting-IP',
    });
    expect(cf.clientInfo(fake('10.0.0.1', ['CF-Connecting-IP', '2001:DB8::1'])).ip).toBe(
      '2001:db8::1',
    );
    const fwd = new FrontDoor({ trustedProxies: ['10.0.0.0/8'], clientIpHeader: 'forwarded' });
    expect(
      fwd.clientInfo(
        fake('10.0.0.1', [
          'Forwarded',
          'for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https',
        ]),
      ).ip,
    ).toBe('2001:db8:cafe::17');
    expect(fwd.clientInfo(fake('10.0.0.1', ['Forwarded', 'for=unknown'])).ip).toBe('10.0.0.1');
  });

  it('takes the last of a repeated geo header (the one the proxy added)', () => {
    const door = new FrontDoor({ trustedProxies: ['10.0.0.0/8'], geoHeaders: ['CF-IPCountry'] });
    const req = fake('10.0.0.1', ['CF-IPCountry', 'XX', 'CF-IPCountry', 'DE']);
    expect(door.clientInfo(req).geo).toEqual({ 'cf-ipcountry': 'DE' });
  });
});

// ---- redirects -------------------------------------------------------------------

describe('FrontDoor.redirectFor', () => {
  const fake = (over: Partial<FrontDoorRequest>, headers: string[] = []): FrontDoorRequest => ({
    method: 'GET',
    url: '/cart?x=1',
    rawHeaders: ['Host', 'origin.internal:8080', ...headers],
    socket: { remoteAddress: '10.0.0.1' },
    ...over,
  });

  it('sends plain HTTP to https://<publicHost><path>, never to the Host header', () => {
    const door = new FrontDoor({ publicHost: 'www.example.com', httpsRedirect: true });
    expect(door.redirectFor(fake({}))).toEqual({
      status: 301,
      location: 'https://www.example.com/cart?x=1',
    });
    expect(door.redirectFor(fake({ method: 'POST' }))?.status).toBe(308);
    expect(door.redirectFor(fake({ url: '//evil.example/x' }))?.location).toBe(
      'https://www.example.com//evil.example/x',
    );
    expect(door.redirectFor(fake({ url: 'http://evil.example/abs?q' }))?.location).toBe(
      'https://www.example.com/abs?q',
    );
    expect(door.redirectFor(fake({ socket: { remoteAddress: '10.0.0.1', encrypted: true } }))).toBe(
      undefined,
    );
  });

  it('believes x-forwarded-proto only from a trusted proxy', () => {
    const door = new FrontDoor({
      publicHost: 'www.example.com',
      httpsRedirect: true,
      trustedProxies: ['10.0.0.0/8'],
    });
    expect(door.redirectFor(fake({}, ['X-Forwarded-Proto', 'https']))).toBeUndefined();
    expect(door.redirectFor(fake({}, ['X-Forwarded-Proto', 'https, http']))).toBeUndefined();
    expect(
      door.redirectFor(
        fake({ socket: { remoteAddress: '203.0.113.9' } }, ['X-Forwarded-Proto', 'https']),
      ),
    ).toBeDefined();
  });

  it('without a public host, redirects only to a host the shield serves', () => {
    const door = new FrontDoor({
      httpsRedirect: true,
      isServedHost: (h) => h === 'shop.example',
    });
    expect(door.redirectFor(fake({ rawHeaders: ['Host', 'Shop.Example'] }))?.location).toBe(
      'https://shop.example/cart?x=1',
    );
    expect(door.redirectFor(fake({ rawHeaders: ['Host', 'evil.example'] }))).toBeUndefined();
  });

  it('does nothing when httpsRedirect is off', () => {
    expect(new FrontDoor({ publicHost: 'www.example.com' }).redirectFor(fake({}))).toBeUndefined();
  });

  it('answers over real HTTP with the public host whatever Host was sent', async () => {
    const h = await startHarness({ publicHost: 'www.example.com', httpsRedirect: true });
    try {
      const res = await rawRequest(
        h.port,
        get('/p/1?c=red', ['X-Forwarded-Proto: https'], 'evil.example'),
      );
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe('https://www.example.com/p/1?c=red');
    } finally {
      await new Promise<void>((r) => h.server.close(() => r()));
    }
  });
});

describe('rejectionResponse', () => {
  it('is a complete HTTP/1.1 answer that closes the connection', () => {
    const text = rejectionResponse({
      status: 431,
      code: 'FLOTILLA_ERR_HEADERS_TOO_LARGE',
      message: 'too big\r\nx-injected: 1',
    });
    const [head = '', body = ''] = text.split('\r\n\r\n');
    expect(head.split('\r\n')).toEqual([
      'HTTP/1.1 431 Request Header Fields Too Large',
      'content-type: text/plain; charset=utf-8',
      'x-flotilla-error: FLOTILLA_ERR_HEADERS_TOO_LARGE',
      'cache-control: no-store',
      'connection: close',
      `content-length: ${Buffer.byteLength(body)}`,
    ]);
    expect(body).toBe('FLOTILLA_ERR_HEADERS_TOO_LARGE: too big  x-injected: 1\n');
  });
});

describe('originForm', () => {
  it('reduces any request target to path and query', () => {
    expect(originForm('/a?b')).toBe('/a?b');
    expect(originForm('http://x.example/a/b?c')).toBe('/a/b?c');
    expect(originForm('*')).toBe('/');
    expect(originForm(undefined)).toBe('/');
  });
});

// ---- the unkeyed-header canary, end to end -----------------------------------------

describe('a cache behind the front door', () => {
  // A naive handler that trusts every forwarding header it is given, as many
  // frameworks do: canonical links, redirects and text from request headers.
  function naiveRender(headers: Array<[string, string]>, host: string, path: string) {
    const h = new Map(headers);
    const fwdHost =
      h.get('x-forwarded-host') ?? h.get('x-host') ?? h.get('x-original-host') ?? host;
    const proto = h.get('x-forwarded-proto') ?? h.get('x-forwarded-scheme') ?? 'http';
    const realPath = h.get('x-original-url') ?? h.get('x-rewrite-url') ?? path;
    const prefix = h.get('x-forwarded-prefix') ?? '';
    const body = [
      `<link rel="canonical" href="${proto}://${fwdHost}${prefix}${realPath}">`,
      `<p>${h.get('user-agent') ?? ''} ${h.get('forwarded') ?? ''} ${h.get('x-forwarded-for') ?? ''}</p>`,
      `<p>${h.get('x-http-method-override') ?? 'GET'} ${h.get('accept-language') ?? ''}</p>`,
      `<p>${h.get('true-client-ip') ?? ''} ${h.get('x-forwarded-server') ?? ''} ${h.get('authorization') ?? ''}</p>`,
    ].join('\n');
    return { body, location: `${proto}://${fwdHost}${prefix}/login` };
  }

  it('never stores a canary from an unkeyed header, in the body or the Location', async () => {
    const cache = new Map<string, { body: string; location: string }>();
    const h = await startHarness({ publicHost: 'www.example.com' }, (req, res, door) => {
      const host = (req.headers.host ?? '').toLowerCase();
      const key = computeCacheKey(
        DEFAULT_CACHE_KEY_SPEC,
        {
          method: 'GET',
          host,
          path: originForm(req.url),
          query: '',
          headers: headerRecord(req.rawHeaders),
        },
        { environment: 'production' },
      );
      let entry = cache.get(key);
      if (!entry) {
        const upstream = door.upstreamHeaders(req, { keySpec: undefined });
        const page = naiveRender(upstream, host, originForm(req.url));
        entry = {
          body: page.body,
          location: door.rewriteLocation(page.location, req.headers.host),
        };
        cache.set(key, entry);
      }
      res.writeHead(200, {
        location: entry.location,
        'content-length': Buffer.byteLength(entry.body),
        connection: 'close',
      });
      res.end(entry.body);
    });
    const canaryHeaders = [
      'X-Forwarded-Host: canary.evil.example',
      'X-Forwarded-Proto: canary',
      'X-Forwarded-Prefix: /canary',
      'X-Original-URL: /canary',
      'X-Rewrite-URL: /canary',
      'X-Host: canary.evil.example',
      'X-Original-Host: canary.evil.example',
      'Forwarded: host=canary.evil.example;proto=canary',
      'X-Forwarded-Server: canary',
      'X-HTTP-Method-Override: CANARY',
      'X-Forwarded-Scheme: canary',
      'True-Client-IP: canary',
      'X-Forwarded-For: canary',
      'User-Agent: canary',
      'Accept-Language: canary',
      'Authorization: canary',
    ];
    try {
      const poisoned = await rawRequest(h.port, get('/p/1', canaryHeaders));
      expect(poisoned.status).toBe(200);
      const clean = await rawRequest(h.port, get('/p/1'));
      expect(cache.size).toBe(1);
      for (const res of [poisoned, clean]) {
        expect(res.body.toLowerCase()).not.toContain('canary');
        expect(res.headers.location).toBe('https://www.example.com/login');
      }
    } finally {
      await new Promise<void>((r) => h.server.close(() => r()));
    }
  });
});
