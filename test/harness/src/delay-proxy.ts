/**
 * A TCP proxy that delays every chunk by a fixed time in each direction:
 * latency between a "region" and what it calls, where `tc netem` is not
 * available. A request and its answer each take `delayMs` more, so one
 * round trip through it costs `2 × delayMs` more; chunks keep their order.
 *
 * @module
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/** Options of {@link startDelayProxy}. */
export interface DelayProxyOptions {
  /** Where to forward (`host`, `port`). */
  target: { host: string; port: number };
  /** Added to every chunk in each direction, ms. */
  delayMs: number;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port. @default 0 (any free port) */
  port?: number;
}

/** A running proxy. */
export interface DelayProxy {
  readonly host: string;
  readonly port: number;
  /** Stops listening and ends every connection. */
  close(): Promise<void>;
}

function delayed(from: Socket, to: Socket, delayMs: number): void {
  from.on('data', (chunk) => {
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, delayMs);
  });
  from.on('end', () => setTimeout(() => to.end(), delayMs));
  from.on('error', () => to.destroy());
}

/** Starts a delaying proxy; resolves once it listens. */
export async function startDelayProxy(options: DelayProxyOptions): Promise<DelayProxy> {
  const { target } = options;
  if (!(options.delayMs >= 0)) throw new RangeError(`delayMs must be ≥ 0, got ${options.delayMs}`);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, upstream, options.delayMs);
    delayed(upstream, client, options.delayMs);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
