/**
 * Streaming SSR's time to first byte (issue 18): a React page whose slow
 * part suspends on a backend call (answered after {@link SLOW_MS}), through
 * the whole fleet (shield without cache → NATS → scheduler → worker, each its
 * own process), three ways in one run, interleaved:
 *
 * - `stream`: `renderToReadableStream` returned as it is: the shell streams out at once;
 * - `buffered`: the same render, its stream read whole before answering (what
 *   every render was before streaming);
 * - `shell`: the same shell with its slow part already at hand, buffered:
 *   the shell's render time through the fleet, the baseline.
 *
 * Target: `stream` TTFB ≤ `shell` TTFB + 2 ms (p50), i.e. the shell's render
 * time plus at most 2 ms, against `buffered` ≈ shell + the slow part.
 * Figures on a busy 2-core machine are indicative only.
 *
 * @module
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { connectNats } from '@flotilla/fleet';
import {
  type FleetPublisher,
  isolateBundleOf,
  publishBundle,
  startFleet,
} from '@flotilla/test-harness';
import { runBench } from './bench-process.ts';
import { p50p99, printResult, round, table } from './stats.ts';

/** How long the slow backend takes. */
const SLOW_MS = 100;
/** Requests of each kind (interleaved), after the warm-up. */
const ROUNDS = 60;
/** The bound on what streaming adds to the shell's render time. */
const TARGET_EXTRA_MS = 2;

const SOURCE = `
import { createElement as h, Suspense, use } from 'react';
import { renderToReadableStream } from 'react-dom/server.edge';

const items = Array.from({ length: 40 }, (_, i) => 'Product ' + i);
function Late({ text }) { return h('p', { id: 'late' }, use(text)); }
function Page({ text }) {
  return h('html', null, h('body', null,
    h('h1', null, 'Shop'),
    h('ul', null, items.map((it) => h('li', { key: it }, it))),
    h(Suspense, { fallback: h('p', null, 'loading…') }, h(Late, { text })),
  ));
}
const html = { 'content-type': 'text/html; charset=utf-8' };

Flotilla.serve(async (request) => {
  const kind = new URL(request.url).pathname.split('/').pop();
  const text = kind === 'shell'
    ? Promise.resolve('at hand')
    : fetch('backend://slow/').then((r) => r.text());
  if (kind === 'shell') text.status = 'fulfilled', text.value = 'at hand';
  const stream = await renderToReadableStream(h(Page, { text }));
  if (kind === 'stream') return new Response(stream, { headers: html });
  await stream.allReady;
  return new Response(await new Response(stream).text(), { headers: html });
});
`;

function bundleCode(): string {
  return isolateBundleOf(SOURCE, fileURLToPath(new URL('.', import.meta.url)));
}

/** Milliseconds from sending a GET to its first body byte, and to its end. */
function timeGet(url: string): Promise<{ ttfb: number; total: number; body: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let ttfb = 0;
    const chunks: Buffer[] = [];
    const req = request(url, (res) => {
      res.on('data', (c: Buffer) => {
        if (chunks.length === 0) ttfb = performance.now() - start;
        chunks.push(c);
      });
      res.on('end', () =>
        resolve({
          ttfb,
          total: performance.now() - start,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Figures of the bench (also its RESULT line). */
export interface StreamTtfbResult {
  bench: 'stream-ttfb';
  slowMs: number;
  rounds: number;
  /** p50/p99 TTFB of each kind, ms. */
  streamTtfb: { p50: number; p99: number };
  bufferedTtfb: { p50: number; p99: number };
  shellTtfb: { p50: number; p99: number };
  /** Whole response of the streamed page, p50 ms (≈ buffered). */
  streamTotalP50: number;
  /** streamed TTFB p50 − shell p50: what streaming adds to the shell's render. */
  extraMs: number;
  /** streamed TTFB p50 ÷ buffered TTFB p50. */
  ratio: number;
  targetExtraMs: number;
  pass: boolean;
}

export async function main(): Promise<StreamTtfbResult> {
  const slow = createServer((_req, res) => {
    setTimeout(() => res.end('the slow part'), SLOW_MS);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  const publish: FleetPublisher = async (natsUrl, dir) => {
    const nc = await connectNats(natsUrl, 'bench-publisher');
    try {
      const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
      await publishBundle(controlPlane, dir, {
        name: 'ttfb',
        code: bundleCode(),
        backends: { slow: origin },
      });
    } finally {
      await nc.close();
    }
    return { close: async () => {} };
  };
  const fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    region: 'bench',
    args: { worker: ['--threads', '1'] },
    publish,
  });
  try {
    const url = (kind: string) => `${fleet.shield.url}/ttfb/${kind}`;
    const kinds = ['stream', 'buffered', 'shell'] as const;
    for (let i = 0; i < 10; i++) for (const k of kinds) await timeGet(url(k));
    const ttfb: Record<string, number[]> = { stream: [], buffered: [], shell: [] };
    const streamTotal: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      for (const k of kinds) {
        const r = await timeGet(url(k));
        if (!r.body.includes(k === 'shell' ? 'at hand' : 'the slow part')) {
          throw new Error(
            `stream-ttfb: ${k} answered without its slow part: ${r.body.slice(0, 200)}`,
          );
        }
        ttfb[k]?.push(r.ttfb);
        if (k === 'stream') streamTotal.push(r.total);
      }
    }
    const s = p50p99(ttfb.stream ?? []);
    const b = p50p99(ttfb.buffered ?? []);
    const sh = p50p99(ttfb.shell ?? []);
    const extra = s.p50 - sh.p50;
    const result: StreamTtfbResult = {
      bench: 'stream-ttfb',
      slowMs: SLOW_MS,
      rounds: ROUNDS,
      streamTtfb: { p50: round(s.p50), p99: round(s.p99) },
      bufferedTtfb: { p50: round(b.p50), p99: round(b.p99) },
      shellTtfb: { p50: round(sh.p50), p99: round(sh.p99) },
      streamTotalP50: round(p50p99(streamTotal).p50),
      extraMs: round(extra),
      ratio: round(s.p50 / b.p50, 3),
      targetExtraMs: TARGET_EXTRA_MS,
      pass: extra <= TARGET_EXTRA_MS,
    };
    process.stdout.write(
      `TTFB through the fleet (shield → NATS → scheduler → worker), React page whose slow part waits ${SLOW_MS} ms on a backend, ${ROUNDS} rounds\n`,
    );
    process.stdout.write(
      `${table([
        ['kind', 'TTFB p50 ms', 'TTFB p99 ms'],
        ['stream (shell first)', result.streamTtfb.p50, result.streamTtfb.p99],
        ['buffered (whole page)', result.bufferedTtfb.p50, result.bufferedTtfb.p99],
        ['shell alone (baseline)', result.shellTtfb.p50, result.shellTtfb.p99],
      ])}\n`,
    );
    process.stdout.write(
      `streamed TTFB = shell + ${result.extraMs} ms (target ≤ ${TARGET_EXTRA_MS} ms); ${result.ratio}× the buffered TTFB; streamed page complete at ${result.streamTotalP50} ms p50\n`,
    );
    printResult({ ...result });
    return result;
  } finally {
    await fleet.stop();
    slow.close();
  }
}

if (import.meta.main) {
  await runBench('stream-ttfb', async () => {
    if (!(await main()).pass) process.exitCode = 1;
  });
}
