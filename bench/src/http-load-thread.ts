/**
 * The body of one load-generator thread (see `http-load.ts`): a closed-loop
 * HTTP/1.1 client on raw `node:net` sockets. Each connection sends one GET,
 * reads the whole response (status line, headers, `content-length` body),
 * then sends the next: no pipelining, keep-alive, `TCP_NODELAY`. It parses
 * only what it needs (status, `content-length`, `connection: close`, a
 * hit marker), so that one thread drives a server far harder than
 * `node:http`'s client would, and never decompresses or copies bodies.
 *
 * Messages in: {@link LoadJob}; out: {@link LoadThreadResult}.
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import { parentPort } from 'node:worker_threads';

/** One run, as posted to the thread. */
export interface LoadJob {
  host: string;
  port: number;
  /** Request path (with query). */
  path: string;
  /** Extra request headers (besides `host`), sent on every request. */
  headers: Array<[string, string]>;
  /** Connections this thread keeps busy. */
  connections: number;
  /** Load before the measured window (not recorded), ms. */
  warmupMs: number;
  /** The measured window, ms. */
  durationMs: number;
  /** Regular expression (source, case-insensitive) a response's head must match to count as a hit. */
  hitPattern: string;
}

/** What one thread measured in the window. */
export interface LoadThreadResult {
  /** Responses completed inside the window. */
  requests: number;
  /** Of them, heads matching the hit pattern. */
  hits: number;
  /** Of them, status other than 200. */
  non200: number;
  /** Response bytes (head + body) received for them. */
  bytes: number;
  /** Latency of each, ms (request written → last body byte). */
  latencies: Float64Array;
  /** Socket errors, protocol errors, and connections the server closed. */
  errors: number;
  reconnects: number;
  /** The first error seen, for the report. */
  firstError: string | undefined;
  /** Length of the measured window, ms. */
  windowMs: number;
  /** CPU time of this thread during the window, ms (user + system). */
  cpuMs: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');

function runJob(job: LoadJob): Promise<LoadThreadResult> {
  const request = Buffer.from(
    `GET ${job.path} HTTP/1.1\r\nhost: ${job.host}:${job.port}\r\n${job.headers
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`,
    'latin1',
  );
  const hitRe = new RegExp(job.hitPattern, 'i');
  const started = performance.now();
  const windowStart = started + job.warmupMs;
  const windowEnd = windowStart + job.durationMs;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let latencies = new Float64Array(65_536);
  let requests = 0;
  let hits = 0;
  let non200 = 0;
  let bytes = 0;
  let errors = 0;
  let reconnects = 0;
  let firstError: string | undefined;
  let stopped = false;
  const sockets = new Set<Socket>();

  const fail = (why: string) => {
    errors++;
    firstError ??= why;
  };

  const record = (t0: number, t1: number, status: number, hit: boolean, size: number) => {
    if (t0 < windowStart || t1 > windowEnd) return;
    if (requests === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[requests++] = t1 - t0;
    if (hit) hits++;
    if (status !== 200) non200++;
    bytes += size;
  };

  const open = (): void => {
    if (stopped) return;
    const socket = connect({ host: job.host, port: job.port, noDelay: true });
    sockets.add(socket);
    // Per-connection parse state.
    let head: Buffer | undefined; // a head split over chunks
    let inBody = false;
    let remaining = 0;
    let status = 0;
    let hit = false;
    let size = 0;
    let closeAfter = false;
    let t0 = 0;
    let broken = false;
    const send = () => {
      head = undefined;
      inBody = false;
      t0 = performance.now();
      socket.write(request);
    };
    const breakConnection = (why: string) => {
      if (broken) return;
      broken = true;
      fail(why);
      socket.destroy();
    };
    socket.on('connect', send);
    socket.on('data', (chunk: Buffer) => {
      let buf = chunk;
      let off = 0;
      while (off < buf.length) {
        if (!inBody) {
          if (head !== undefined) {
            buf = Buffer.concat([head, buf.subarray(off)]);
            off = 0;
            head = undefined;
          }
          const end = buf.indexOf(HEAD_END, off);
          if (end === -1) {
            head = Buffer.from(buf.subarray(off)); // copy: the chunk is reused
            if (head.length > 65_536) breakConnection('response head over 64 KiB');
            return;
          }
          const text = buf.toString('latin1', off, end + 2);
          status = Number(text.slice(9, 12));
          const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
          if (!cl?.[1] || /\r\ntransfer-encoding:/i.test(text)) {
            breakConnection(`response without content-length: ${text.slice(0, 200)}`);
            return;
          }
          remaining = Number(cl[1]);
          hit = hitRe.test(text);
          closeAfter = /\r\nconnection:[ \t]*close/i.test(text);
          size = end + 4 - off + remaining;
          off = end + 4;
          inBody = true;
        }
        const take = Math.min(remaining, buf.length - off);
        remaining -= take;
        off += take;
        if (remaining === 0) {
          const t1 = performance.now();
          record(t0, t1, status, hit, size);
          if (off < buf.length) {
            breakConnection('bytes after the response (the client never pipelines)');
            return;
          }
          if (closeAfter) {
            socket.destroy();
            return;
          }
          if (stopped || t1 >= windowEnd) {
            socket.destroy();
            return;
          }
          send();
          return;
        }
      }
    });
    socket.on('error', (err) => {
      if (!stopped) fail(err.message);
    });
    socket.on('close', () => {
      sockets.delete(socket);
      // The server ended a kept-alive connection (or it broke): go on with a new one.
      if (!stopped && performance.now() < windowEnd) {
        if (!closeAfter && !broken && inBody && remaining > 0)
          fail('connection closed mid-response');
        reconnects++;
        setTimeout(open, broken ? 10 : 0);
      }
    });
  };

  return new Promise((resolve) => {
    for (let i = 0; i < job.connections; i++) open();
    setTimeout(
      () => {
        cpuAtStart = process.threadCpuUsage();
      },
      Math.max(0, windowStart - performance.now()),
    );
    setTimeout(
      () => {
        const cpu = process.threadCpuUsage(cpuAtStart);
        stopped = true;
        for (const s of sockets) s.destroy();
        resolve({
          requests,
          hits,
          non200,
          bytes,
          latencies: latencies.slice(0, requests),
          errors,
          reconnects,
          firstError,
          windowMs: job.durationMs,
          cpuMs: (cpu.user + cpu.system) / 1000,
        });
      },
      Math.max(0, windowEnd - performance.now()),
    );
  });
}

parentPort?.on('message', (job: LoadJob) => {
  runJob(job).then(
    (result) =>
      parentPort?.postMessage({ ok: true, result }, [result.latencies.buffer as ArrayBuffer]),
    (err: unknown) => parentPort?.postMessage({ ok: false, error: String(err) }),
  );
});
