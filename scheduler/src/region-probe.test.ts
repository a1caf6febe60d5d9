import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodeProbeResult,
  encodeProbeRequest,
  PROBE_SUBJECT,
  type ProbeResult,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { RegionProbe } from './region-probe.ts';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function origin(delayMs: number): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    setTimeout(() => res.end(), delayMs);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

describe('RegionProbe', () => {
  it('times round trips to the origin and reports the median, one answer per region', async () => {
    const transport = new InProcessTransport();
    const api = await origin(30);
    const probes = [
      new RegionProbe({ transport, region: 'eu-west' }),
      new RegionProbe({ transport, region: 'eu-west' }),
    ];
    for (const p of probes) p.start();
    const reply = await transport.request(
      PROBE_SUBJECT,
      { headers: {}, body: encodeProbeRequest({ url: api.url, samples: 3, timeoutMs: 1000 }) },
      { timeoutMs: 5000 },
    );
    const result: ProbeResult = decodeProbeResult(reply.body);
    expect(result.region).toBe('eu-west');
    expect(result.samplesMs).toHaveLength(3);
    expect(result.rttMs).toBeGreaterThanOrEqual(30);
    expect(api.hits()).toBe(3);
    await Promise.all(probes.map((p) => p.close()));
    await transport.drain();
  });

  it('reports an unreachable origin instead of failing', async () => {
    const transport = new InProcessTransport();
    const probe = new RegionProbe({ transport, region: 'us-east' });
    const closed = await origin(0);
    servers.pop()?.close();
    const result = await probe.measure(
      encodeProbeRequest({ url: closed.url, samples: 2, timeoutMs: 500 }),
    );
    expect(result).toMatchObject({ region: 'us-east', rttMs: null });
    expect(result.error).toMatch(/unreachable/);
  });

  it('refuses a bad region name', () => {
    expect(() => new RegionProbe({ transport: new InProcessTransport(), region: 'A B' })).toThrow(
      /region/,
    );
  });
});
