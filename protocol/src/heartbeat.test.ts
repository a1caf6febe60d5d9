import { describe, expect, it } from 'vitest';
import { decodeHeartbeat, encodeHeartbeat, type Heartbeat } from './heartbeat.ts';
import { WIRE_HEADERS, type WireMessage } from './wire.ts';

const hb: Heartbeat = {
  workerId: 'w-1a2b3c4d',
  inFlight: 3,
  capacity: 16,
  warm: ['dep-a', 'dep-b'],
  draining: false,
  intervalMs: 1000,
};

function raw(body: unknown, version = '1'): WireMessage {
  return {
    headers: { [WIRE_HEADERS.version]: version },
    body: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('heartbeat', () => {
  it('round-trips', () => {
    expect(decodeHeartbeat(encodeHeartbeat(hb))).toEqual(hb);
    expect(decodeHeartbeat(encodeHeartbeat({ ...hb, draining: true, warm: [] }))).toEqual({
      ...hb,
      draining: true,
      warm: [],
    });
  });

  it('rejects a missing or unknown version', () => {
    const msg = encodeHeartbeat(hb);
    expect(codeOf(() => decodeHeartbeat({ headers: {}, body: msg.body }))).toBe(
      'FLOTILLA_ERR_PROTOCOL',
    );
    expect(codeOf(() => decodeHeartbeat(raw(hb, '2')))).toBe('FLOTILLA_ERR_PROTOCOL');
  });

  it('rejects a body that is not JSON', () => {
    expect(codeOf(() => decodeHeartbeat(raw('{not json')))).toBe('FLOTILLA_ERR_PROTOCOL');
  });

  const shapes: Array<[string, unknown]> = [
    ['null', null],
    ['an array', [hb]],
    ['no workerId', { ...hb, workerId: undefined }],
    ['a numeric inFlight as a string', { ...hb, inFlight: '3' }],
    ['warm as a string', { ...hb, warm: 'dep-a' }],
    ['warm with a non-string entry', { ...hb, warm: ['dep-a', 7] }],
    ['draining as a string', { ...hb, draining: 'no' }],
    ['no intervalMs', { ...hb, intervalMs: undefined }],
    ['a negative inFlight', { ...hb, inFlight: -5 }],
    ['a negative capacity', { ...hb, capacity: -1 }],
  ];
  for (const [what, body] of shapes) {
    it(`rejects a heartbeat with ${what}`, () => {
      expect(codeOf(() => decodeHeartbeat(raw(body)))).toBe('FLOTILLA_ERR_PROTOCOL');
    });
  }

  // The worker id becomes a NATS subject token (flotilla.<region>.worker.<id>.render).
  for (const workerId of ['a.b', '*', '>', 'W-UPPER', '', 'w 1']) {
    it(`rejects worker id ${JSON.stringify(workerId)} that cannot be a subject token`, () => {
      expect(codeOf(() => decodeHeartbeat(raw({ ...hb, workerId })))).toBe('FLOTILLA_ERR_PROTOCOL');
    });
  }
});
