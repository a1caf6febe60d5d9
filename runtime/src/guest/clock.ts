/**
 * The bundle's clocks, coarsened as Cloudflare Workers do: time inside the
 * isolate advances only when the host calls in (a render starts, a timer
 * fires, a `fetch` answers, a signal aborts) and stands still while guest
 * code runs. A loop cannot time itself, so timing side channels (cache
 * probes, measuring another render's work through a shared thread) get no
 * clock finer than one host round trip, while code that logs or stamps
 * dates still sees the wall-clock time, in whole milliseconds, of its last
 * I/O. `Date.now()`, `new Date()`, `Date()`, `performance.now()` and
 * `Event#timeStamp` all read this clock.
 */

/** Captured before any bundle code runs: the real clock, for the host's entries only. */
const realNow = Date.now;
const RealDate = Date;
const apply = Reflect.apply;
const construct = Reflect.construct;
const floor = Math.floor;

/** The guest's time (epoch ms, whole): the real time at the host's last call in. */
let frozen = floor(apply(realNow, RealDate, []));
/** When the isolate was made (epoch ms, whole): `performance.timeOrigin`. */
let origin = frozen;

/**
 * Starts both clocks at now: called when the host connects the prelude, so
 * an isolate started from a snapshot does not count from the snapshot's
 * making. Before any bundle code reads `performance.timeOrigin` in a fresh
 * isolate; a snapshot's bundle code read it while the snapshot was made.
 */
export function restartClock(): void {
  frozen = floor(apply(realNow, RealDate, []));
  origin = frozen;
}

/** Moves the guest's clock to now. Called by the prelude at each entry from the host. */
export function tick(): void {
  const t = floor(apply(realNow, RealDate, []));
  // Never backwards (the host's clock may be stepped).
  if (t > frozen) frozen = t;
}

/** The guest's time, epoch ms. */
export function guestNow(): number {
  return frozen;
}

/** ms since the isolate was made, as `performance.now()` and `Event#timeStamp` report it. */
export function sinceOrigin(): number {
  return frozen - origin;
}

/**
 * `Date` reading the guest clock: `new Date()` and `Date()` without
 * arguments are the frozen time; everything else is the engine's `Date`
 * (same prototype, so `instanceof Date` and every method are unchanged).
 */
function makeDate(): DateConstructor {
  const GuestDate = function (this: unknown, ...args: unknown[]) {
    if (new.target === undefined) return new RealDate(frozen).toString();
    return construct(RealDate, args.length === 0 ? [frozen] : args, new.target);
  } as unknown as DateConstructor;
  Object.defineProperties(GuestDate, {
    name: { value: 'Date' },
    length: { value: 7 },
    prototype: { value: RealDate.prototype },
    now: { value: guestNow, writable: true, configurable: true },
    parse: { value: RealDate.parse, writable: true, configurable: true },
    UTC: { value: RealDate.UTC, writable: true, configurable: true },
  });
  Object.defineProperty(RealDate.prototype, 'constructor', {
    value: GuestDate,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return GuestDate;
}

/**
 * Installs `Date` and `performance` on the global object (through the
 * prelude's `define`); `methods` go on `performance` too (User Timing).
 */
export function installClock(
  define: (name: string, value: unknown) => void,
  methods: Record<string, unknown> = {},
): void {
  define('Date', makeDate());
  const performance = Object.create(null) as Record<string, unknown>;
  const props: PropertyDescriptorMap = {
    now: { value: sinceOrigin, enumerable: true },
    timeOrigin: { get: () => origin, enumerable: true },
    toJSON: { value: () => ({ timeOrigin: origin }), enumerable: true },
    [Symbol.toStringTag]: { value: 'Performance' },
  };
  for (const [name, value] of Object.entries(methods)) props[name] = { value, enumerable: true };
  Object.defineProperties(performance, props);
  define('performance', Object.freeze(performance));
}
