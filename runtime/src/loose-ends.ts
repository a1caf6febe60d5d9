/**
 * What the host knows of each render's loose ends in the guest (timers it
 * set that are pending on the host, `fetch` calls not answered yet), so that
 * a render that left none is settled on the next call into the isolate (the
 * next render's `start`) instead of in a call of its own: that call was a
 * round trip through an isolated-vm pool thread after every render that
 * made a `fetch` (about 0.5 ms of the host thread's CPU per render on a
 * 2-core VM, see `bench/README.md`, "Where the sandbox's time goes").
 *
 * A render with loose ends is settled at once, as before. Without any, no
 * code of it can run again on its own (no timer fires for it, no answer
 * reaches it), and what the guest keeps of it (its count of `fetch` calls,
 * its performance marks) can wait for the next call.
 *
 * @module
 */
export class LooseEnds {
  /** Pending host timers: id → the request that set it. */
  readonly #timerOwner = new Map<number, string>();
  /** Pending host timers per request. */
  readonly #timers = new Map<string, number>();
  /** `fetch` calls per request not handed to the guest yet. */
  readonly #open = new Map<string, number>();
  #deferred: string[] = [];

  /** Timer `id` of request `owner` was set. */
  timerSet(id: number, owner: string): void {
    this.timerDone(id);
    this.#timerOwner.set(id, owner);
    add(this.#timers, owner, 1);
  }

  /** Timer `id` fired or was cleared; returns the request that set it. */
  timerDone(id: number): string | undefined {
    const owner = this.#timerOwner.get(id);
    if (owner === undefined) return undefined;
    this.#timerOwner.delete(id);
    add(this.#timers, owner, -1);
    return owner;
  }

  /** Render `owner` made a `fetch` call the host is running. */
  fetchStarted(owner: string): void {
    add(this.#open, owner, 1);
  }

  /**
   * The answer of a `fetch` call of `owner` was handed to the guest (its
   * `deliverFetch` call issued: calls into the isolate run in order, so the
   * guest has it before any later call).
   */
  fetchDelivered(owner: string): void {
    if (this.#open.has(owner)) add(this.#open, owner, -1);
  }

  /**
   * Render `owner` ended. True when it left no loose ends: the guest
   * settles it on the next call (see {@link take}). False when the caller
   * must settle it now.
   */
  ended(owner: string): boolean {
    const open = this.#open.get(owner) ?? 0;
    this.#open.delete(owner);
    if (open > 0 || this.#timers.has(owner)) return false;
    this.#deferred.push(owner);
    return true;
  }

  /** The renders to settle with the next call into the guest (and forgets them), or null. */
  take(): string[] | null {
    if (this.#deferred.length === 0) return null;
    const owners = this.#deferred;
    this.#deferred = [];
    return owners;
  }

  /** Forgets everything (the isolate is gone). */
  clear(): void {
    this.#timerOwner.clear();
    this.#timers.clear();
    this.#open.clear();
    this.#deferred = [];
  }
}

function add(counts: Map<string, number>, key: string, n: number): void {
  const v = (counts.get(key) ?? 0) + n;
  if (v > 0) counts.set(key, v);
  else counts.delete(key);
}
