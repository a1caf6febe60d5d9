import { describe, expect, it } from 'vitest';
import { ManifestError } from './errors.ts';
import type { Manifest } from './types.ts';
import {
  validateCacheKeySpec,
  validateCacheOptions,
  validateManifest,
  validateManifestLimits,
  validateRouteCriteria,
} from './validate.ts';

const HASH = 'a'.repeat(64);

function manifest(): Manifest {
  return {
    manifestVersion: 2,
    name: 'shop',
    framework: 'react',
    bundleHash: HASH,
    bundleBytes: 1234,
    contentHash: 'b'.repeat(64),
    builtAt: '2025-01-01T00:00:00.000Z',
    routes: [
      {
        id: 0,
        criteria: { path: '/:path*' },
        fallback: false,
        action: { kind: 'headers' },
        cache: { browser: { maxAgeSeconds: 0 } },
        headerOps: [{ op: 'setResponse', name: 'x-frame-options', value: 'DENY' }],
      },
      {
        id: 1,
        criteria: { path: '/p/:productId', method: ['GET'] },
        fallback: false,
        action: { kind: 'render' },
        cache: {
          edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 600 },
          key: {
            query: { mode: 'only', names: ['color'] },
            cookies: [],
            headers: [],
            device: true,
            browser: false,
          },
        },
        headerOps: [],
      },
      {
        id: 2,
        criteria: { path: '/api/:path*' },
        fallback: false,
        action: { kind: 'proxy', backend: 'api', path: '/:path*' },
        headerOps: [],
      },
      {
        id: 3,
        criteria: { path: '/old' },
        fallback: false,
        action: { kind: 'redirect', to: '/new', statusCode: 301 },
        headerOps: [],
      },
      {
        id: 4,
        criteria: { path: '/assets/:file*' },
        fallback: false,
        action: { kind: 'static', dir: 'public/assets', permanent: true, exclude: ['index.html'] },
        headerOps: [],
      },
      {
        id: 5,
        criteria: { path: '/:path*' },
        fallback: true,
        action: { kind: 'render' },
        headerOps: [],
      },
    ],
    backends: { api: 'http://127.0.0.1:8080' },
    assets: [
      {
        path: '/assets/app.3f2a1b9c.css',
        hash: HASH,
        bytes: 10,
        contentType: 'text/css',
        permanent: true,
      },
    ],
  };
}

function problem(fn: () => unknown): ManifestError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return err as ManifestError;
  }
  throw new Error('expected a ManifestError');
}

describe('validateManifest', () => {
  it('accepts a valid manifest and returns an equal copy', () => {
    const m = manifest();
    const valid = validateManifest(JSON.parse(JSON.stringify(m)));
    expect(valid).toEqual(m);
    expect(valid).not.toBe(m);
  });

  it('normalises methods to upper case and header names to lower case', () => {
    const m = manifest() as unknown as { routes: Array<Record<string, unknown>> };
    m.routes[1] = {
      ...m.routes[1],
      criteria: { path: '/p/:productId', method: ['get'], headers: { 'X-Beta': true } },
    };
    const valid = validateManifest(m);
    expect(valid.routes[1]?.criteria).toEqual({
      path: '/p/:productId',
      method: ['GET'],
      headers: { 'x-beta': true },
    });
  });

  const cases: Array<[string, Array<string | number>, unknown, string]> = [
    ['not version 2', ['manifestVersion'], 1, 'manifest: manifestVersion must be 2 (got 1)'],
    ['a bad name', ['name'], 'Shop', 'manifest: name must be 1-50 lower-case'],
    ['a name too long for a host label', ['name'], 'a'.repeat(51), 'manifest: name must be 1-50'],
    [
      'a bad pattern',
      ['routes', 3, 'criteria', 'path'],
      'old',
      'manifest: routes[3].criteria.path "old" must start with "/"',
    ],
    [
      'a bad method',
      ['routes', 1, 'criteria', 'method'],
      ['FETCH'],
      'routes[1].criteria.method[0] must be one of GET',
    ],
    [
      'a negative max age',
      ['routes', 1, 'cache', 'edge', 'maxAgeSeconds'],
      -1,
      'routes[1].cache.edge.maxAgeSeconds must be a non-negative integer (got -1)',
    ],
    [
      'an unknown cache field',
      ['routes', 1, 'cache', 'ttl'],
      5,
      'routes[1].cache.ttl is not a known field (known: edge, browser, key)',
    ],
    ['a misplaced id', ['routes', 2, 'id'], 7, 'routes[2].id must be 2'],
    [
      'an undeclared backend',
      ['routes', 2, 'action', 'backend'],
      'cms',
      'routes[2].action.backend names no declared backend (got "cms"; declared: api)',
    ],
    [
      'a bad redirect status',
      ['routes', 3, 'action', 'statusCode'],
      200,
      'routes[3].action.statusCode must be one of 301, 302, 303, 307, 308',
    ],
    [
      'an unknown action',
      ['routes', 3, 'action'],
      { kind: 'rewrite' },
      'routes[3].action.kind must be one of render',
    ],
    [
      'a header value with CRLF',
      ['routes', 0, 'headerOps', 0, 'value'],
      'a\r\nb',
      'routes[0].headerOps[0].value must not contain CR, LF or NUL',
    ],
    [
      'a bad backend origin',
      ['backends', 'api'],
      'http://x/path',
      'backends.api must be an http: or https: origin',
    ],
    ['a bad asset hash', ['assets', 0, 'hash'], 'xyz', 'assets[0].hash must be a sha256'],
    ['an unknown top-level field', ['extra'], 1, 'manifest: extra is not a known field'],
    [
      'a static dir escaping',
      ['routes', 4, 'action', 'dir'],
      '../etc',
      'routes[4].action.dir must not contain ".."',
    ],
    ['limits that are not an object', ['limits'], [100], 'manifest: limits must be an object'],
    [
      'an unknown limit',
      ['limits'],
      { cpu: 100 },
      'manifest: limits.cpu is not a known field (known: cpuMs, wallMs, heapMb, outputBytes, bundleBytes, backendResponseBytes)',
    ],
    [
      'a zero limit',
      ['limits'],
      { cpuMs: 0 },
      'manifest: limits.cpuMs must be a positive integer (got 0)',
    ],
    [
      'a negative limit',
      ['limits'],
      { wallMs: -5 },
      'manifest: limits.wallMs must be a positive integer (got -5)',
    ],
    [
      'a fractional limit',
      ['limits'],
      { outputBytes: 1.5 },
      'manifest: limits.outputBytes must be a positive integer (got 1.5)',
    ],
    [
      'a limit given as a string',
      ['limits'],
      { cpuMs: '100' },
      'manifest: limits.cpuMs must be a positive integer (got "100")',
    ],
    [
      'a heap below 8 MB',
      ['limits'],
      { cpuMs: 100, heapMb: 4 },
      'manifest: limits.heapMb must be at least 8 (got 4)',
    ],
  ];

  it.each(cases)('refuses %s, naming the field', (_what, path, value, message) => {
    const m = JSON.parse(JSON.stringify(manifest()));
    let target = m;
    for (const key of path.slice(0, -1)) target = target[key];
    target[path.at(-1) as string] = value;
    const err = problem(() => validateManifest(m));
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain(message);
  });

  it('accepts a manifest without limits, and adds none', () => {
    const valid = validateManifest(JSON.parse(JSON.stringify(manifest())));
    expect(valid).not.toHaveProperty('limits');
  });

  it('accepts the limits a deployment asks for and returns a copy', () => {
    const limits = {
      cpuMs: 50,
      wallMs: 2000,
      heapMb: 8,
      outputBytes: 1024,
      bundleBytes: 65_536,
      backendResponseBytes: 4096,
    };
    const m: Manifest = { ...manifest(), limits };
    const valid = validateManifest(JSON.parse(JSON.stringify(m)));
    expect(valid).toEqual(m);
    expect(valid.limits).not.toBe(limits);
    expect(validateManifest({ ...manifest(), limits: { heapMb: 64 } }).limits).toEqual({
      heapMb: 64,
    });
  });

  it('refuses what is not an object', () => {
    expect(problem(() => validateManifest(null)).message).toBe(
      'manifest must be a JSON object (got null)',
    );
  });
});

describe('validateCacheOptions', () => {
  it('names unknown and bad fields', () => {
    expect(problem(() => validateCacheOptions({ edge: { maxAge: 1 } })).message).toBe(
      'cache.edge.maxAge is not a known field (known: maxAgeSeconds, staleWhileRevalidateSeconds, forcePrivateCaching)',
    );
    expect(problem(() => validateCacheOptions({ browser: { maxAgeSeconds: 1.5 } })).message).toBe(
      'cache.browser.maxAgeSeconds must be a non-negative integer (got 1.5)',
    );
    expect(problem(() => validateCacheOptions({ edge: true })).field).toBe('cache.edge');
    expect(validateCacheOptions({ edge: false })).toEqual({ edge: false });
  });

  it('checks cache-key specs', () => {
    expect(
      problem(() =>
        validateCacheKeySpec({
          query: { mode: 'some' },
          cookies: [],
          headers: [],
          device: false,
          browser: false,
        }),
      ).message,
    ).toBe('key.query.mode must be "all", "only" or "exclude" (got "some")');
    expect(
      validateCacheKeySpec({
        query: { mode: 'only', names: ['a', 'a'] },
        cookies: [],
        headers: ['Accept-Language'],
        device: false,
        browser: false,
      }),
    ).toEqual({
      query: { mode: 'only', names: ['a'] },
      cookies: [],
      headers: ['accept-language'],
      device: false,
      browser: false,
    });
  });
});

describe('validateManifestLimits', () => {
  it('names the bad limit, with the context when given', () => {
    expect(problem(() => validateManifestLimits({ cpuMs: 0 })).message).toBe(
      'limits.cpuMs must be a positive integer (got 0)',
    );
    expect(problem(() => validateManifestLimits({ heapMb: 7 })).field).toBe('limits.heapMb');
    expect(
      problem(() => validateManifestLimits({ cpuMs: null }, 'limits', 'flotilla.config.json'))
        .message,
    ).toBe('flotilla.config.json: limits.cpuMs must be a positive integer (got null)');
    expect(problem(() => validateManifestLimits(null)).message).toBe(
      'limits must be an object (got null)',
    );
  });

  it('returns the limits in a fixed key order', () => {
    expect(Object.keys(validateManifestLimits({ heapMb: 64, cpuMs: 200 }))).toEqual([
      'cpuMs',
      'heapMb',
    ]);
    expect(validateManifestLimits({})).toEqual({});
  });
});

describe('validation of regular expressions, partitions and browser: false', () => {
  it('takes { regex, flags } criteria values and refuses what the matcher cannot carry', () => {
    expect(
      validateRouteCriteria({ path: '/', headers: { 'X-Beta': { regex: '^yes$', flags: 'i' } } }),
    ).toEqual({ path: '/', headers: { 'x-beta': { regex: '^yes$', flags: 'i' } } });
    expect(
      problem(() => validateRouteCriteria({ path: '/', query: { v: { regex: 'a', flags: 'g' } } }))
        .message,
    ).toMatch(/^criteria\.query\.v \/a\/g has the flag "g", which the matcher cannot carry/);
    expect(
      problem(() => validateRouteCriteria({ path: '/', cookies: { c: { regex: '(a+)+' } } }))
        .message,
    ).toMatch(/nests a repetition inside a repetition/);
    expect(
      problem(() => validateRouteCriteria({ path: '/', headers: { h: { pattern: 'a' } } })).message,
    ).toMatch(/must be an exact value \(a string\), true for "present" or \{ regex, flags \}/);
    expect(problem(() => validateRouteCriteria({ path: '/p/:id(.*)' })).message).toMatch(
      /can match "\/"/,
    );
  });

  it('checks partitions, isBot and vendor of a key', () => {
    const base = { query: { mode: 'all' }, headers: [], device: false, browser: false };
    expect(
      validateCacheKeySpec({
        ...base,
        cookies: ['location'],
        cookiePartitions: { location: [{ name: 'na', regex: 'us|ca' }] },
        isBot: true,
        vendor: true,
      }),
    ).toEqual({
      ...base,
      cookies: ['location'],
      cookiePartitions: { location: [{ name: 'na', regex: 'us|ca' }] },
      isBot: true,
      vendor: true,
    });
    expect(
      problem(() =>
        validateCacheKeySpec({
          ...base,
          cookies: [],
          cookiePartitions: { location: [{ name: 'na', regex: 'us' }] },
        }),
      ).message,
    ).toMatch(/cookiePartitions names "location", which is not in the key's cookies/);
    expect(
      problem(() => validateCacheKeySpec({ ...base, cookies: ['c'], cookiePartitions: { c: [] } }))
        .message,
    ).toMatch(/must list at least one partition/);
    expect(
      problem(() =>
        validateCacheKeySpec({
          ...base,
          cookies: ['c'],
          cookiePartitions: { c: [{ name: 'x', regex: 'a', flags: 'y' }] },
        }),
      ).message,
    ).toMatch(/partition "x": \/a\/y has the flag "y"/);
  });

  it('takes browser: false and refuses browser: true', () => {
    expect(validateCacheOptions({ browser: false })).toEqual({ browser: false });
    expect(problem(() => validateCacheOptions({ browser: true })).field).toBe('cache.browser');
  });
});
