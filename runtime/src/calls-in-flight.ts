/**
 * The asynchronous calls made from a thread into one isolate that have not
 * answered yet. isolated-vm answers each on the thread that made it, on that
 * thread's event loop, also after the isolate was disposed (once the run
 * has unwound on isolated-vm's pool thread, which on a busy machine can take
 * long). An answer that reaches a thread while it is being terminated (the
 * thread pool closing) throws inside isolated-vm, and that aborts the whole
 * process: a thread may end only once every isolate it used has
 * {@link CallsInFlight.settled}.
 */
export class CallsInFlight {
  readonly #calls = new Set<Promise<unknown>>();
  #guestCalls = 0;

  /**
   * Tracks `call` until it settles; returns it unchanged. `runsGuest`: the
   * call runs guest code (counted in {@link guestCalls}).
   */
  add<T>(call: Promise<T>, runsGuest = false): Promise<T> {
    this.#calls.add(call);
    if (runsGuest) this.#guestCalls++;
    const done = () => {
      this.#calls.delete(call);
      if (runsGuest) this.#guestCalls--;
    };
    call.then(done, done);
    return call;
  }

  /** Calls not answered yet. */
  get size(): number {
    return this.#calls.size;
  }

  /** Of {@link size}, the calls that run guest code. */
  get guestCalls(): number {
    return this.#guestCalls;
  }

  /**
   * Resolves once no call is in flight, those added meanwhile included. No
   * time limit: a disposed isolate's calls answer once its run unwinds.
   */
  async settled(): Promise<void> {
    while (this.#calls.size > 0) await Promise.allSettled([...this.#calls]);
  }
}
