/**
 * The User Timing part of `performance` (`mark`, `measure`, `clearMarks`,
 * `clearMeasures`, `getEntries`, `getEntriesByName`, `getEntriesByType`)
 * and its entry classes, as frameworks call them while rendering (Angular's
 * and Vue's profiling, rxjs schedulers, Next.js's tracing).
 *
 * Browsers keep one timeline per page; here one isolate serves many renders
 * at once, so the timeline is **per render**: a render sees only the entries
 * it made, and they go when it ends. One render can never read another's
 * marks (names may carry ids, and their times would be a clock). Times are
 * the guest's coarse clock (`clock.ts`), so a measure between two marks of
 * one synchronous stretch is 0.
 */
import { sinceOrigin } from './clock.ts';
import { DOMException } from './dom-exception.ts';
import { structuredClone } from './structured-clone.ts';

/** Entries one render may hold; past it the oldest go (a loop of marks cannot fill the heap). */
export const MAX_ENTRIES_PER_RENDER = 1000;

const TOKEN = Symbol('PerformanceEntry');

/** One entry of the timeline (`PerformanceMark` or `PerformanceMeasure`). */
export class PerformanceEntry {
  readonly #name: string;
  readonly #type: string;
  readonly #start: number;
  readonly #duration: number;

  constructor(token?: unknown, name?: string, type?: string, start?: number, duration?: number) {
    if (token !== TOKEN) throw new TypeError('Illegal constructor');
    this.#name = name as string;
    this.#type = type as string;
    this.#start = start as number;
    this.#duration = duration as number;
  }
  get name(): string {
    return this.#name;
  }
  get entryType(): string {
    return this.#type;
  }
  get startTime(): number {
    return this.#start;
  }
  get duration(): number {
    return this.#duration;
  }
  toJSON(): Record<string, unknown> {
    return {
      name: this.#name,
      entryType: this.#type,
      startTime: this.#start,
      duration: this.#duration,
    };
  }
  get [Symbol.toStringTag](): string {
    return 'PerformanceEntry';
  }
}

function cloneDetail(detail: unknown): unknown {
  return detail === undefined || detail === null ? null : structuredClone(detail);
}

function timeOf(value: unknown, what: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new TypeError(`${what} must be a finite, non-negative number (got ${String(value)})`);
  }
  return n;
}

/** `performance.mark(name)`'s result; also `new PerformanceMark(name, { startTime, detail })`. */
export class PerformanceMark extends PerformanceEntry {
  readonly #detail: unknown;
  constructor(...args: [name?: string, options?: { startTime?: number; detail?: unknown } | null]) {
    if (args.length === 0) throw new TypeError('PerformanceMark needs a name');
    const [name, options] = args;
    const start =
      options?.startTime === undefined
        ? sinceOrigin()
        : timeOf(options.startTime, 'PerformanceMark startTime');
    super(TOKEN, String(name), 'mark', start, 0);
    this.#detail = cloneDetail(options?.detail);
  }
  get detail(): unknown {
    return this.#detail;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), detail: this.#detail };
  }
  override get [Symbol.toStringTag](): string {
    return 'PerformanceMark';
  }
}

/** `performance.measure(…)`'s result (not constructible, as in browsers). */
export class PerformanceMeasure extends PerformanceEntry {
  readonly #detail: unknown;
  constructor(token?: unknown, name?: string, start?: number, duration?: number, detail?: unknown) {
    super(token, name, 'measure', start, duration);
    this.#detail = detail;
  }
  get detail(): unknown {
    return this.#detail;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), detail: this.#detail };
  }
  override get [Symbol.toStringTag](): string {
    return 'PerformanceMeasure';
  }
}

interface MeasureOptions {
  start?: string | number;
  end?: string | number;
  duration?: number;
  detail?: unknown;
}

/** The per-render timelines behind `performance`'s User Timing methods. */
export interface UserTiming {
  /** The methods to put on `performance`. */
  readonly methods: Record<string, (...args: never[]) => unknown>;
  /** Forgets the entries of render `owner` (it ended). */
  forget(owner: string): void;
}

/**
 * Makes the User Timing methods; `owner` names the render running now (the
 * prelude's request id).
 */
export function userTiming(owner: () => string): UserTiming {
  const timelines = new Map<string, PerformanceEntry[]>();
  const timeline = (): PerformanceEntry[] => {
    const key = owner();
    let list = timelines.get(key);
    if (list === undefined) {
      list = [];
      timelines.set(key, list);
    }
    return list;
  };
  const add = <T extends PerformanceEntry>(entry: T): T => {
    const list = timeline();
    list.push(entry);
    if (list.length > MAX_ENTRIES_PER_RENDER) list.shift();
    return entry;
  };
  const markTime = (name: string): number => {
    const list = timelines.get(owner()) ?? [];
    for (let i = list.length - 1; i >= 0; i--) {
      const e = list[i] as PerformanceEntry;
      if (e.entryType === 'mark' && e.name === name) return e.startTime;
    }
    throw new DOMException(`The mark '${name}' does not exist.`, 'SyntaxError');
  };
  const pointOf = (point: string | number | undefined, fallback: number): number => {
    if (point === undefined) return fallback;
    return typeof point === 'number'
      ? timeOf(point, 'performance.measure time')
      : markTime(String(point));
  };
  const clear = (type: string, name: unknown) => {
    const list = timelines.get(owner());
    if (list === undefined) return;
    const keep = list.filter(
      (e) => e.entryType !== type || (name !== undefined && e.name !== String(name)),
    );
    list.length = 0;
    list.push(...keep);
  };
  const sorted = (filter: (e: PerformanceEntry) => boolean): PerformanceEntry[] =>
    (timelines.get(owner()) ?? []).filter(filter).sort((a, b) => a.startTime - b.startTime);

  const methods = {
    mark(...args: [name?: string, options?: { startTime?: number; detail?: unknown }]) {
      if (args.length === 0) throw new TypeError('performance.mark needs a name');
      return add(new PerformanceMark(args[0], args[1]));
    },
    measure(...args: [name?: string, startOrOptions?: string | MeasureOptions, endMark?: string]) {
      if (args.length === 0) throw new TypeError('performance.measure needs a name');
      const [name, startOrOptions, endMark] = args;
      const now = sinceOrigin();
      let start: number;
      let end: number;
      let detail: unknown = null;
      if (startOrOptions !== null && typeof startOrOptions === 'object') {
        const o = startOrOptions as MeasureOptions;
        if (endMark !== undefined) {
          throw new TypeError('performance.measure: an end mark cannot follow an options object');
        }
        if (o.start !== undefined && o.end !== undefined && o.duration !== undefined) {
          throw new TypeError('performance.measure: start, end and duration cannot all be given');
        }
        const duration =
          o.duration === undefined ? undefined : timeOf(o.duration, 'performance.measure duration');
        if (o.end !== undefined) end = pointOf(o.end, now);
        else if (o.start !== undefined && duration !== undefined)
          end = pointOf(o.start, 0) + duration;
        else end = now;
        if (o.start !== undefined) start = pointOf(o.start, 0);
        else if (duration !== undefined) start = end - duration;
        else start = 0;
        detail = cloneDetail(o.detail);
      } else {
        start = pointOf(startOrOptions === undefined ? undefined : String(startOrOptions), 0);
        end = pointOf(endMark, now);
      }
      return add(new PerformanceMeasure(TOKEN, String(name), start, end - start, detail));
    },
    clearMarks(name?: string) {
      clear('mark', name);
    },
    clearMeasures(name?: string) {
      clear('measure', name);
    },
    getEntries() {
      return sorted(() => true);
    },
    getEntriesByName(name: string, type?: string) {
      return sorted((e) => e.name === String(name) && (type === undefined || e.entryType === type));
    },
    getEntriesByType(type: string) {
      return sorted((e) => e.entryType === String(type));
    },
  };
  return {
    methods: methods as unknown as Record<string, (...args: never[]) => unknown>,
    forget(key) {
      timelines.delete(key);
    },
  };
}
