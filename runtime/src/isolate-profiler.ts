/**
 * V8's sampling CPU profiler over an isolate's inspector: where a render's
 * time goes inside the isolate, which the host's `--cpu-prof` does not see.
 * isolated-vm's own `startCpuProfiler` restarts V8's profiler on every
 * entry into the isolate (a render enters it several times: its start, each
 * `fetch` answer, its result), each restart logging every compiled function
 * of the bundle again, so a framework render slowed down a hundredfold; the
 * inspector's profiler runs across entries.
 *
 * For benchmarks and diagnosis only (`LoadOptions.profiling`): an inspector
 * session can do anything in the isolate, and the isolate runs slower.
 *
 * @module
 */
import type ivm from 'isolated-vm';

/** A V8 CPU profile, as the inspector's `Profiler.stop` returns it (`.cpuprofile`). */
export interface IsolateCpuProfile {
  nodes: Array<{
    id: number;
    callFrame: {
      functionName: string;
      url: string;
      lineNumber: number;
      columnNumber: number;
    };
    hitCount?: number;
    children?: number[];
  }>;
  /** µs. */
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** An inspector session on one isolate, driving its CPU profiler. */
export class IsolateProfiler {
  readonly #session: ivm.InspectorSession;
  readonly #pending = new Map<number, (message: { result?: unknown; error?: unknown }) => void>();
  #nextId = 0;

  constructor(isolate: ivm.Isolate) {
    this.#session = isolate.createInspectorSession();
    this.#session.onResponse = (id, message) => {
      const resolve = this.#pending.get(id);
      this.#pending.delete(id);
      resolve?.(JSON.parse(message));
    };
    this.#session.onNotification = () => {};
  }

  async #post(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.#nextId;
    const answer = new Promise<{ result?: unknown; error?: unknown }>((resolve) =>
      this.#pending.set(id, resolve),
    );
    this.#session.dispatchProtocolMessage(JSON.stringify({ id, method, params }));
    const { result, error } = await answer;
    if (error) throw new Error(`inspector ${method}: ${JSON.stringify(error)}`);
    return result;
  }

  /** Starts sampling every `intervalUs` µs. */
  async start(intervalUs = 500): Promise<void> {
    await this.#post('Profiler.enable');
    await this.#post('Profiler.setSamplingInterval', { interval: intervalUs });
    await this.#post('Profiler.start');
  }

  /** Stops sampling and returns the profile. */
  async stop(): Promise<IsolateCpuProfile> {
    const { profile } = (await this.#post('Profiler.stop')) as { profile: IsolateCpuProfile };
    return profile;
  }

  dispose(): void {
    this.#session.dispose();
  }
}
