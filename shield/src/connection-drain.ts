/**
 * A graceful stop of the shield's HTTP server: no new connections, a grace
 * period for requests already on their way over open ones, every request in
 * flight answered, then closed.
 *
 * @module
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How often the grace period checks whether every connection is gone, in ms. */
const POLL_MS = 20;

/**
 * Tracks the connections and requests in flight of a `node:http` server, and
 * drains it.
 */
export class ConnectionDrain {
  readonly #server: Server;
  readonly #graceMs: number;
  readonly #sockets = new Set<Socket>();
  /** Sockets accepted after the drain began: they get 503, not service. */
  readonly #lateSockets = new WeakSet<Socket>();
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #draining = false;

  /**
   * @param graceMs - How long connections already open may still bring
   *   requests once the drain began.
   */
  constructor(server: Server, graceMs: number) {
    this.#server = server;
    this.#graceMs = graceMs;
    server.on('connection', (socket) => {
      if (this.#draining) this.#lateSockets.add(socket);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** True once {@link close} was called. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Requests being answered now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Counts a request in flight until its response closes. */
  track(res: ServerResponse): void {
    this.#inFlight++;
    res.on('close', () => {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const f of this.#idle.splice(0)) f();
    });
  }

  /** True for a request on a connection opened after the drain began. */
  isLate(req: IncomingMessage): boolean {
    return this.#lateSockets.has(req.socket);
  }

  /**
   * Stops accepting connections; for the grace period lets open connections
   * bring requests; waits for every request in flight; then closes the server.
   */
  async close(): Promise<void> {
    this.#draining = true;
    // server.close() also drops idle kept-alive connections at once: wait out
    // the grace first, so a request already on its way over one is served.
    const until = Date.now() + this.#graceMs;
    while (this.#sockets.size > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeIdleConnections();
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    this.#server.closeIdleConnections();
    await closed;
  }
}
