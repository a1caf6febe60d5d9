import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode, fromWireError } from './errors.ts';
import { SUBJECT_TOKEN } from './patterns.ts';
import {
  decodeRenderRequest,
  decodeRenderResult,
  encodeRenderRequest,
  encodeRenderResult,
  PROTOCOL_VERSION,
  type RenderRequest,
  RenderRequestSchema,
  type RenderResult,
  RenderResultSchema,
  topLevelMs,
  WIRE_HEADERS,
  type WireMessage,
} from './wire.ts';

const enc = new TextEncoder();

function request(overrides: Partial<RenderRequest> = {}): RenderRequest {
  return {
    deploymentId: 'dep-1',
    method: 'POST',
    url: 'http://shop.localhost/p/1?q=a%20b',
    headers: [
      ['x-b', '2'],
      ['accept', 'text/html'],
      ['x-a', '1'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['x-unicode', 'crème brûlée'],
    ],
    body: new Uint8Array([0, 1, 2, 127, 128, 254, 255, 0x0d, 0x0a]),
    deadline: 1_900_000_000_123,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    requestId: 'req-42',
    attempt: 2,
    ...overrides,
  };
}

function withHeaders(msg: WireMessage, change: Record<string, string | undefined>): WireMessage {
  const headers = { ...msg.headers };
  for (const [k, v] of Object.entries(change)) {
    if (v === undefined) delete headers[k];
    else headers[k] = v;
  }
  return { headers, body: msg.body };
}

function protocolError(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a protocol error, nothing was thrown');
}

describe('render request', () => {
  it('round-trips every field, binary body bytes and header order', () => {
    const req = request();
    const decoded = decodeRenderRequest(encodeRenderRequest(req));
    expect(decoded).toEqual(req);
    expect(Array.from(decoded.body)).toEqual([0, 1, 2, 127, 128, 254, 255, 13, 10]);
    expect(decoded.headers.map(([k]) => k)).toEqual([
      'x-b',
      'accept',
      'x-a',
      'set-cookie',
      'set-cookie',
      'x-unicode',
    ]);
  });

  it('round-trips an empty GET with no headers', () => {
    const req = request({ method: 'GET', headers: [], body: new Uint8Array(0), attempt: 1 });
    expect(decodeRenderRequest(encodeRenderRequest(req))).toEqual(req);
  });

  it('puts metadata in headers and the body as bytes', () => {
    const msg = encodeRenderRequest(request());
    expect(msg.headers[WIRE_HEADERS.version]).toBe(String(PROTOCOL_VERSION));
    expect(msg.headers[WIRE_HEADERS.deadline]).toBe('1900000000123');
    expect(msg.headers[WIRE_HEADERS.traceparent]).toBe(request().traceparent);
    expect(msg.body).toEqual(request().body);
  });

  it('defaults a missing or invalid attempt to 1', () => {
    const msg = encodeRenderRequest(request());
    expect(
      decodeRenderRequest(withHeaders(msg, { [WIRE_HEADERS.attempt]: undefined })).attempt,
    ).toBe(1);
    expect(decodeRenderRequest(withHeaders(msg, { [WIRE_HEADERS.attempt]: '0' })).attempt).toBe(1);
    expect(decodeRenderRequest(withHeaders(msg, { [WIRE_HEADERS.attempt]: 'x' })).attempt).toBe(1);
  });

  it('carries the app environment in flotilla-environment; absent for a preview request', () => {
    const req = request({ environment: 'production' });
    const msg = encodeRenderRequest(req);
    expect(msg.headers[WIRE_HEADERS.environment]).toBe('production');
    expect(WIRE_HEADERS.environment).toBe('flotilla-environment');
    expect(decodeRenderRequest(msg)).toEqual(req);
    const preview = encodeRenderRequest(request());
    expect(preview.headers).not.toHaveProperty(WIRE_HEADERS.environment);
    expect(decodeRenderRequest(preview)).not.toHaveProperty('environment');
  });

  it('refuses to encode an environment that is not a subject token, naming it', () => {
    for (const environment of ['Production', 'prod.eu', 'a b', '', '*', 'staging>', '-x']) {
      const err = protocolError(() => encodeRenderRequest(request({ environment })));
      expect(err.code).toBe('FLOTILLA_ERR_PROTOCOL');
      expect(err.message).toContain(`environment ${JSON.stringify(environment)} is invalid`);
    }
  });

  const bad: Array<[string, Record<string, string | undefined>, RegExp]> = [
    [
      'an environment that is not a subject token',
      { [WIRE_HEADERS.environment]: 'prod.*' },
      /environment "prod\.\*" is invalid: it must be lower-case letters, digits and dashes/,
    ],
    ['an empty environment', { [WIRE_HEADERS.environment]: '' }, /environment "" is invalid/],
    ['no version', { [WIRE_HEADERS.version]: undefined }, /version \(none\)/],
    ['an unknown version', { [WIRE_HEADERS.version]: '2' }, /version "2"/],
    ['no deadline', { [WIRE_HEADERS.deadline]: undefined }, /flotilla-deadline/],
    ['a non-numeric deadline', { [WIRE_HEADERS.deadline]: 'soon' }, /deadline/],
    ['no deployment', { [WIRE_HEADERS.deployment]: undefined }, /flotilla-deployment/],
    ['an empty method', { [WIRE_HEADERS.method]: '' }, /flotilla-method/],
    ['no url', { [WIRE_HEADERS.url]: undefined }, /flotilla-url/],
    ['no http headers', { [WIRE_HEADERS.httpHeaders]: undefined }, /flotilla-http-headers/],
    ['http headers that are not JSON', { [WIRE_HEADERS.httpHeaders]: '[[' }, /not valid JSON/],
    [
      'http headers of the wrong shape',
      { [WIRE_HEADERS.httpHeaders]: '{"accept":"text/html"}' },
      /wrong shape/,
    ],
    [
      'a header pair with a non-string value',
      { [WIRE_HEADERS.httpHeaders]: '[["x-n",1]]' },
      /wrong shape/,
    ],
    ['a header triple', { [WIRE_HEADERS.httpHeaders]: '[["a","b","c"]]' }, /wrong shape/],
  ];
  for (const [what, change, message] of bad) {
    it(`rejects ${what} with FLOTILLA_ERR_PROTOCOL`, () => {
      const msg = withHeaders(encodeRenderRequest(request()), change);
      const err = protocolError(() => decodeRenderRequest(msg));
      expect(err.code).toBe('FLOTILLA_ERR_PROTOCOL');
      expect(err.message).toMatch(message);
    });
  }
});

describe('render result', () => {
  it('round-trips a response: status, ordered repeated headers, binary body, timings', () => {
    const result = {
      ok: true as const,
      status: 201,
      headers: [
        ['set-cookie', 'a=1'],
        ['content-type', 'application/octet-stream'],
        ['set-cookie', 'b=2'],
      ] as Array<[string, string]>,
      body: new Uint8Array([255, 0, 10, 13, 200]),
      timings: { worker: 12.5, render: 3.25, queue: 0 },
    };
    const decoded = decodeRenderResult(encodeRenderResult(result));
    expect(decoded).toEqual(result);
  });

  it('round-trips an error with its timings and no body', () => {
    const result = {
      ok: false as const,
      error: { code: 'FLOTILLA_ERR_RENDER' as const, message: 'handler threw: boom' },
      timings: { worker: 4 },
    };
    const msg = encodeRenderResult(result);
    expect(msg.body.byteLength).toBe(0);
    expect(decodeRenderResult(msg)).toEqual(result);
  });

  it('accepts a result with no timings header as empty timings', () => {
    const msg = encodeRenderResult({
      ok: true,
      status: 204,
      headers: [],
      body: new Uint8Array(0),
      timings: {},
    });
    const decoded = decodeRenderResult(withHeaders(msg, { [WIRE_HEADERS.timings]: undefined }));
    expect(decoded.timings).toEqual({});
  });

  const okMsg = encodeRenderResult({
    ok: true,
    status: 200,
    headers: [['content-type', 'text/plain']],
    body: enc.encode('hi'),
    timings: { worker: 1 },
  });
  it('carries the app environment in flotilla-environment; absent for a preview request', () => {
    const req = request({ environment: 'production' });
    const msg = encodeRenderRequest(req);
    expect(msg.headers[WIRE_HEADERS.environment]).toBe('production');
    expect(WIRE_HEADERS.environment).toBe('flotilla-environment');
    expect(decodeRenderRequest(msg)).toEqual(req);
    const preview = encodeRenderRequest(request());
    expect(preview.headers).not.toHaveProperty(WIRE_HEADERS.environment);
    expect(decodeRenderRequest(preview)).not.toHaveProperty('environment');
  });

  it('refuses to encode an environment that is not a subject token, naming it', () => {
    for (const environment of ['Production', 'prod.eu', 'a b', '', '*', 'staging>', '-x']) {
      const err = protocolError(() => encodeRenderRequest(request({ environment })));
      expect(err.code).toBe('FLOTILLA_ERR_PROTOCOL');
      expect(err.message).toContain(`environment ${JSON.stringify(environment)} is invalid`);
    }
  });

  const bad: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['no version', { [WIRE_HEADERS.version]: undefined }, /version/],
    ['an unknown version', { [WIRE_HEADERS.version]: '0' }, /version "0"/],
    ['no status', { [WIRE_HEADERS.status]: undefined }, /flotilla-status/],
    ['a non-numeric status', { [WIRE_HEADERS.status]: 'OK' }, /status "OK" is invalid/],
    ['a status below 100', { [WIRE_HEADERS.status]: '99' }, /status "99"/],
    ['a status above 599', { [WIRE_HEADERS.status]: '600' }, /status "600"/],
    ['a fractional status', { [WIRE_HEADERS.status]: '200.5' }, /status/],
    ['no response headers', { [WIRE_HEADERS.httpHeaders]: undefined }, /flotilla-http-headers/],
    [
      'response headers that are not JSON',
      { [WIRE_HEADERS.httpHeaders]: 'nope' },
      /not valid JSON/,
    ],
    ['timings that are not JSON', { [WIRE_HEADERS.timings]: '{' }, /timings is not valid JSON/],
    [
      'timings of the wrong shape',
      { [WIRE_HEADERS.timings]: '{"worker":"1"}' },
      /timings has the wrong shape/,
    ],
    ['timings as an array', { [WIRE_HEADERS.timings]: '[1]' }, /timings has the wrong shape/],
    ['an error that is not JSON', { [WIRE_HEADERS.error]: 'boom' }, /error is not valid JSON/],
    [
      'an error without a code',
      { [WIRE_HEADERS.error]: '{"message":"x"}' },
      /error has the wrong shape/,
    ],
    [
      'an error whose code is not FLOTILLA_ERR_*',
      { [WIRE_HEADERS.error]: '{"code":"EBOOM","message":"x"}' },
      /error has the wrong shape/,
    ],
  ];
  for (const [what, change, message] of bad) {
    it(`rejects ${what} with FLOTILLA_ERR_PROTOCOL`, () => {
      const err = protocolError(() => decodeRenderResult(withHeaders(okMsg, change)));
      expect(err.code).toBe('FLOTILLA_ERR_PROTOCOL');
      expect(err.message).toMatch(message);
    });
  }
});

describe('topLevelMs', () => {
  it('adds only the non-overlapping stages', () => {
    expect(
      topLevelMs({ shield: 1, transport: 2, scheduler: 3, worker: 4, render: 100, queue: 50 }),
    ).toBe(10);
    expect(topLevelMs({})).toBe(0);
  });
});

// The render request and result are decoded by hand (they cross the wire
// for every request); the schemas they are typed from must agree with them.
describe('the hand decoders agree with the schemas', () => {
  const headerList = fc.array(fc.tuple(fc.string(), fc.string()), { maxLength: 4 });
  const timings = fc.dictionary(fc.string(), fc.integer(), { maxKeys: 3 });
  const requests: fc.Arbitrary<RenderRequest> = fc.record(
    {
      deploymentId: fc.string({ minLength: 1 }),
      method: fc.string({ minLength: 1 }),
      url: fc.string({ minLength: 1 }),
      headers: headerList,
      body: fc.uint8Array({ maxLength: 16 }),
      deadline: fc.integer(),
      traceparent: fc.string(),
      requestId: fc.string(),
      attempt: fc.integer({ min: 1 }),
      ackTo: fc.string({ minLength: 1 }),
      environment: fc.stringMatching(SUBJECT_TOKEN),
    },
    {
      requiredKeys: [
        'deploymentId',
        'method',
        'url',
        'headers',
        'body',
        'deadline',
        'traceparent',
        'requestId',
        'attempt',
      ],
    },
  );
  const results: fc.Arbitrary<RenderResult> = fc.oneof(
    fc.record({
      ok: fc.constant(true as const),
      status: fc.integer({ min: 100, max: 599 }),
      headers: headerList,
      body: fc.uint8Array({ maxLength: 16 }),
      timings,
    }),
    fc.record({
      ok: fc.constant(false as const),
      error: fc.record({
        code: fc.constantFrom(...(Object.keys(ERROR_CODES) as ErrorCode[])),
        message: fc.string(),
      }),
      timings,
    }),
  );
  const headerNames = fc.constantFrom(...Object.values(WIRE_HEADERS));
  const mangled = fc.dictionary(
    headerNames,
    fc.oneof(fc.string(), fc.constantFrom('', '1', '-1', '1.5', 'NaN', '[]', '[["a"]]', '{}')),
    { maxKeys: 3 },
  );

  /** Every value the schema accepts round-trips; a mangled message decodes into one it accepts, or is refused. */
  function agree<T>(
    schema: v.GenericSchema<unknown, T>,
    values: fc.Arbitrary<T>,
    encode: (value: T) => WireMessage,
    decode: (msg: WireMessage) => T,
  ): void {
    fc.assert(
      fc.property(values, (value) => {
        expect(v.is(schema, value)).toBe(true);
        expect(decode(encode(value))).toEqual(value);
      }),
    );
    fc.assert(
      fc.property(values, mangled, (value, change) => {
        let decoded: T;
        try {
          decoded = decode(withHeaders(encode(value), change));
        } catch (err) {
          expect((err as { code?: string }).code).toBe('FLOTILLA_ERR_PROTOCOL');
          return;
        }
        expect(v.safeParse(schema, decoded).issues).toBeUndefined();
      }),
    );
  }

  it('for render requests', () => {
    agree(RenderRequestSchema, requests, encodeRenderRequest, decodeRenderRequest);
  });

  it('for render results', () => {
    agree(RenderResultSchema, results, encodeRenderResult, decodeRenderResult);
  });

  it('keeps an error code this process does not know; a FlotillaError rebuilt from it is internal', () => {
    const msg = withHeaders(
      encodeRenderResult({
        ok: false,
        error: { code: 'FLOTILLA_ERR_RENDER', message: 'x' },
        timings: {},
      }),
      {
        [WIRE_HEADERS.error]: '{"code":"FLOTILLA_ERR_FROM_THE_FUTURE","message":"boom"}',
      },
    );
    const result = decodeRenderResult(msg);
    expect(result).toEqual({
      ok: false,
      error: { code: 'FLOTILLA_ERR_FROM_THE_FUTURE', message: 'boom' },
      timings: {},
    });
    const err = fromWireError(result.ok ? { code: '', message: '' } : result.error);
    expect([err.code, err.message, err.status]).toEqual([
      'FLOTILLA_ERR_INTERNAL',
      'FLOTILLA_ERR_FROM_THE_FUTURE: boom',
      500,
    ]);
  });
});
