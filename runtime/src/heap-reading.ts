/**
 * Reads an isolate's heap without ever waiting for it: a synchronous read of
 * an isolate that runs on an isolated-vm pool thread blocks the reading
 * thread until that run ends, and a CPU bomb ends only at its wall-clock
 * backstop (the CPU watch, on the blocked thread, could not stop it
 * meanwhile). A busy isolate answers with its last reading.
 */
import type ivm from 'isolated-vm';

/** The heap readings of one isolate. */
export class HeapReading {
  readonly #isolate: ivm.Isolate;
  readonly #busy: () => boolean;
  readonly #disposed: () => boolean;
  /** The last reading, bytes. */
  #bytes = 0;
  #fresh = false;

  /**
   * @param busy true while a call into the isolate may be running on a pool thread.
   * @param disposed true once the isolate is disposed.
   */
  constructor(isolate: ivm.Isolate, busy: () => boolean, disposed: () => boolean) {
    this.#isolate = isolate;
    this.#busy = busy;
    this.#disposed = disposed;
  }

  /** Heap used, in bytes: read now when the isolate is idle, else the last reading (0 once disposed). */
  read(): number {
    this.#fresh = false;
    if (this.#disposed()) return 0;
    if (this.#busy()) return this.#bytes;
    try {
      const s = this.#isolate.getHeapStatisticsSync();
      this.#bytes = s.used_heap_size + s.externally_allocated_size;
      this.#fresh = true;
      return this.#bytes;
    } catch {
      // Disposed between the check and the call (its memory limit, hit by a
      // render still running): it holds nothing any more. Whoever asked (the
      // stats after another deployment's render) must not fail for it.
      return 0;
    }
  }

  /** True when the last {@link read} read the heap now (not an earlier reading). */
  get fresh(): boolean {
    return this.#fresh;
  }
}
