/**
 * The noisy-neighbour scenario the neighbours suite (`test/fault`) and bench
 * (`bench/src/neighbours.ts`) share: app B serves one request at a time
 * while app A attacks with twice the region's slots in flight; B's latency
 * is sampled before the attack (its baseline) and during it.
 *
 * Sized so that B has room by design: each worker thread runs one render
 * at a time (`--tasks-per-thread 1`), so a CPU-bound render of A never
 * shares a thread with B's; the scheduler's fair share keeps A off the
 * last CPU slot. A's renders awaiting the backend hold no CPU slot, so A
 * may hold more of them than the region has CPU slots (up to the workers'
 * `--io-slots`, less the fair share's reserve). Attack kinds are entries of
 * {@link NEIGHBOUR_ATTACKS}: another kind is one more entry.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { trackChild } from './child-reaper.ts';
import { httpRequest, type ListeningServer, listen } from './http.ts';
import { waitFor } from './wait-for.ts';

/** A hand-written app of the scenario: its name (served at `/<name>/`), code and backends. */
export interface NeighbourApp {
  name: string;
  code: string;
  backends?: Record<string, string>;
}

/** App B: a cheap render, so that its latency is the fleet's, not its own. */
export const NEIGHBOUR_B: NeighbourApp = {
  name: 'neighbour-b',
  code: `Flotilla.serve((req) => new Response('b ' + new URL(req.url).pathname));`,
};

/** One kind of attack by app A. */
export interface NeighbourAttack {
  /** Short name, for test titles and RESULT lines. */
  name: string;
  /** A's bundle; `backend` is the origin of the holding backend. */
  app(backend: string): NeighbourApp;
  /** A's requests in flight during an attack, as a multiple of the region's CPU slots. @default 2 */
  slotsMultiple?: number;
}

/** A bundle whose every render awaits the holding backend. */
const slowBackendApp = (name: string, backend: string): NeighbourApp => ({
  name,
  backends: { api: backend },
  code: `Flotilla.serve(async () => {
    const res = await fetch('backend://api/hold');
    return new Response('a ' + (await res.text()));
  });`,
});

/** Attacks by app A: each is a bundle served at `/<name>/`. */
export const NEIGHBOUR_ATTACKS: readonly NeighbourAttack[] = [
  {
    // Each render awaits a backend that holds its answer for seconds.
    name: 'slow-backend',
    app: (backend) => slowBackendApp('neighbour-a-slow', backend),
  },
  {
    // As slow-backend, with 4× the region's CPU slots in flight: renders
    // that only await the backend must not take CPU slots from B.
    name: 'slow-backend-flood',
    app: (backend) => slowBackendApp('neighbour-a-flood', backend),
    slotsMultiple: 4,
  },
  {
    // Each render spins until its CPU limit disposes the isolate.
    name: 'cpu-bomb',
    app: () => ({
      name: 'neighbour-a-cpu',
      code: `Flotilla.serve(() => { for (;;) {} });`,
    }),
  },
  {
    // Each render returns 50 MB, five times the output cap: refused in the
    // isolate before any copy (502 OUTPUT_LIMIT), so it costs the worker
    // neither memory nor a copy.
    name: 'output-bomb',
    app: () => ({
      name: 'neighbour-a-output',
      code: `Flotilla.serve(() => new Response('x'.repeat(50 * 1024 * 1024)));`,
    }),
  },
];

/** A backend on 127.0.0.1 that answers every request after `holdMs`. */
export interface HoldingBackend {
  url: string;
  /** Requests it holds now. */
  readonly holding: number;
  /** Answers every request it holds now, at once. */
  releaseAll(): void;
  close(): Promise<void>;
}

/** Starts a {@link HoldingBackend}: slow by design, it never fails. */
export async function startHoldingBackend(holdMs: number): Promise<HoldingBackend> {
  const held = new Map<ServerResponse, () => void>();
  const server: ListeningServer = await listen((_req: IncomingMessage, res: ServerResponse) => {
    const answer = () => {
      clearTimeout(timer);
      held.delete(res);
      if (!res.writableEnded) res.writeHead(200, { 'content-type': 'text/plain' }).end('held');
    };
    const timer = setTimeout(answer, holdMs);
    held.set(res, answer);
    res.on('close', () => {
      clearTimeout(timer);
      held.delete(res);
    });
  });
  return {
    url: server.url,
    get holding() {
      return held.size;
    },
    releaseAll() {
      for (const answer of [...held.values()]) answer();
    },
    close: () => server.close(),
  };
}

/** What an attack's clients got back, by status. */
export type StatusCounts = Record<string, number>;

/**
 * Starts app A's clients: `concurrency` of them, each sending its next
 * request to `path<i>-<n>` as soon as the last one answered, in a process
 * of their own (`attack-client.ts`). `stop` lets each finish its request and
 * resolves with the statuses A got; `sent` counts A's requests once stopped.
 */
export function attack(
  shieldUrl: string,
  path: string,
  concurrency: number,
): { stop(): Promise<StatusCounts>; readonly sent: number } {
  const child = spawn(
    process.execPath,
    [
      fileURLToPath(new URL('./attack-client.ts', import.meta.url)),
      shieldUrl,
      path,
      String(concurrency),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  trackChild(child);
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let sent = 0;
  return {
    get sent() {
      return sent;
    },
    async stop() {
      // Wait until it runs (its SIGTERM handler is installed), then stop it.
      await waitFor(() => out.includes('ready') || child.exitCode !== null, {
        timeoutMs: 30_000,
        intervalMs: 10,
        message: 'the attack client never started',
      });
      child.kill('SIGTERM');
      await exited;
      const last = out.trim().split('\n').at(-1) ?? '';
      let report: { sent: number; counts: StatusCounts };
      try {
        report = JSON.parse(last) as { sent: number; counts: StatusCounts };
      } catch {
        throw new Error(`the attack client exited ${child.exitCode} without its report: ${out}`);
      }
      sent = report.sent;
      return report.counts;
    },
  };
}

/** Latencies of B's requests and those that did not answer 200. */
export interface Samples {
  ms: number[];
  errors: string[];
}

/**
 * Sends `count` requests to `path` of `shieldUrl` one after the other (and
 * more until `minMs` passed), timing each; stops early after `maxErrors`
 * failed ones (a starved B fails fast).
 */
export async function sample(
  shieldUrl: string,
  path: string,
  count: number,
  minMs = 0,
  maxErrors = 5,
): Promise<Samples> {
  const ms: number[] = [];
  const errors: string[] = [];
  // One kept-alive connection, as a browser's: what is timed is the fleet.
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const until = performance.now() + minMs;
    for (let i = 0; (i < count || performance.now() < until) && errors.length < maxErrors; i++) {
      const t = performance.now();
      try {
        const r = await httpRequest(shieldUrl, `${path}${i}`, { timeoutMs: 30_000, agent });
        if (r.status !== 200) errors.push(`${r.status} ${r.body.trim().slice(0, 120)}`);
      } catch (err) {
        errors.push((err as Error).message);
      }
      ms.push(performance.now() - t);
    }
  } finally {
    agent.destroy();
  }
  return { ms, errors };
}

/** The `q` quantile (0…1) of `values`, nearest rank. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Options of {@link measureNeighbours}. */
export interface MeasureOptions {
  /** The shield's traffic URL. */
  shieldUrl: string;
  /** Path prefix of B's requests (a counter is appended). */
  bPath: string;
  /** Path prefix of A's requests. */
  aPath: string;
  /** A's requests in flight during an attack (a multiple of the region's CPU slots). */
  concurrency: number;
  /** Baseline and attack windows, alternated: a change in the machine's load hits both. */
  rounds: number;
  /** B's requests per window, at least. */
  perRound: number;
  /**
   * Shortest window, ms: an attack window spans several of A's renders
   * (their starts as well as their steady state), as a lasting attack does.
   * @default 0
   */
  windowMs?: number;
  /** A's renders in flight now (the scheduler's `flotilla_scheduler_app_in_flight`). */
  inFlightOfA: () => Promise<number>;
  /** Ends what A has in flight once its clients stopped (e.g. the backend answers what it holds). */
  settleA?: () => void;
}

/** What {@link measureNeighbours} saw: B alone, B under attack, and A's answers. */
export interface NeighbourMeasurement {
  baseline: Samples;
  under: Samples;
  attackStatuses: StatusCounts;
  /** A's requests sent, all windows together. */
  attackSent: number;
  /** Most renders A held at once while B was sampled under attack (polled). */
  peakInFlightOfA: number;
}

/**
 * Measures B alone and under A's attack in alternating windows: each round
 * samples B with A idle, then starts A's clients, waits until A holds a
 * slot, samples B again, stops A and waits until A has nothing in flight.
 */
export async function measureNeighbours(o: MeasureOptions): Promise<NeighbourMeasurement> {
  const baseline: Samples = { ms: [], errors: [] };
  const under: Samples = { ms: [], errors: [] };
  const attackStatuses: StatusCounts = {};
  let attackSent = 0;
  let peakInFlightOfA = 0;
  const pause = () => new Promise((r) => setTimeout(r, 20));
  for (
    let round = 0;
    round < o.rounds && baseline.errors.length + under.errors.length < 5;
    round++
  ) {
    const alone = await sample(o.shieldUrl, `${o.bPath}base-${round}-`, o.perRound, o.windowMs);
    baseline.ms.push(...alone.ms);
    baseline.errors.push(...alone.errors);
    const running = attack(o.shieldUrl, `${o.aPath}r${round}-`, o.concurrency);
    try {
      await waitFor(async () => (await o.inFlightOfA()) >= 1, {
        timeoutMs: 30_000,
        intervalMs: 20,
        message: `A (${o.aPath}) never got a slot`,
      });
      let sampling = true;
      const polling = (async () => {
        while (sampling) {
          peakInFlightOfA = Math.max(peakInFlightOfA, await o.inFlightOfA());
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const attacked = await sample(
        o.shieldUrl,
        `${o.bPath}attack-${round}-`,
        o.perRound,
        o.windowMs,
      ).finally(() => {
        sampling = false;
      });
      await polling;
      under.ms.push(...attacked.ms);
      under.errors.push(...attacked.errors);
    } finally {
      let stopped = false;
      const stopping = running.stop().finally(() => {
        stopped = true;
      });
      // A's queued requests take the slots its settled ones free: settle until all answered.
      while (!stopped) {
        o.settleA?.();
        await pause();
      }
      for (const [status, n] of Object.entries(await stopping)) {
        attackStatuses[status] = (attackStatuses[status] ?? 0) + n;
      }
      attackSent += running.sent;
    }
    while ((await o.inFlightOfA()) > 0) {
      o.settleA?.();
      await pause();
    }
  }
  return { baseline, under, attackStatuses, attackSent, peakInFlightOfA };
}
