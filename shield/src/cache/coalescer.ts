import { combinations, sharedCounter, startAtZero } from '@flotilla/metrics';
import { FlotillaError, InvalidOptionError, positiveInt } from '@flotilla/protocol';
import { type Counter, Registry } from 'prom-client';
import { type CacheTimers, timersOption } from './timers.ts';

/** Why a {@link CoalescerError} was raised. */
export type CoalescerErrorReason =
  /** The key already has `maxFollowers` callers waiting. */
  | 'over-capacity'
  /** A follower's wait ran out and `onFollowerTimeout` said `fail` (or no new leader could be elected). */
  | 'follower-timeout'
  /** A leader call did not settle within its deadline. */
  | 'leader-deadline';

/**
 * Raised by {@link Coalescer.run} when it gives up on a caller.
 * `over-capacity` and `follower-timeout` carry `FLOTILLA_ERR_OVERLOADED`
 * (503) and a `retryAfterSeconds` for the `Retry-After` header;
 * `leader-deadline` carries `FLOTILLA_ERR_DEADLINE` (504).
 */
export class CoalescerError extends FlotillaError {
  /** Why the caller was turned away. */
  readonly reason: CoalescerErrorReason;
  /** The cache key concerned. */
  readonly key: string;
  /** Seconds the client should wait before retrying (`Retry-After`); absent for `leader-deadline`. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    reason: CoalescerErrorReason,
    key: string,
    message: string,
    retryAfterSeconds?: number,
  ) {
    super(
      reason === 'leader-deadline' ? 'FLOTILLA_ERR_DEADLINE' : 'FLOTILLA_ERR_OVERLOADED',
      message,
    );
    this.name = 'CoalescerError';
    this.reason = reason;
    this.key = key;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** What a follower whose wait ran out does; see {@link CoalesceRunOptions.onFollowerTimeout}. */
export type FollowerTimeoutDecision = 'stale' | 'new-leader' | 'fail';

/** Given to {@link CoalesceRunOptions.onFollowerTimeout}. */
export interface FollowerTimeoutInfo {
  /** The cache key. */
  key: string;
  /** How long this follower has waited in all, in ms. */
  waitedMs: number;
  /**
   * Whether `new-leader` can still be honoured: false once the wave has used
   * its one re-election (then `new-leader` ends as `fail`).
   */
  canElect: boolean;
}

/** Per-call options of {@link Coalescer.run}. */
export interface CoalesceRunOptions<T> {
  /**
   * Whether followers may receive this caller's result when it leads. A
   * result judged not shareable (personalised, uncacheable, garbage) is
   * never handed to followers: each of them runs its own `leader` function,
   * unshared (role `alone`). A throwing judge counts as "not shareable".
   * Only the leader's own judge is consulted.
   * @default every result is shareable
   */
  shareable?: (result: T) => boolean;
  /**
   * Whether an error of this caller's leader call is final for its
   * followers. Final: they get the error. Not final: the followers elect
   * one of them as new leader (once per wave; a second failure reaches them
   * all). Only the leader's own judge is consulted; a throwing judge counts
   * as "not final".
   * @default no error is final
   */
  isFinalError?: (err: unknown) => boolean;
  /**
   * Decides, when this caller has followed a leader for `followerWaitMs`
   * without a result: `stale` (the caller has a stale copy and serves it:
   * role `stale`), `new-leader` (this follower is elected and runs its own
   * `leader` function, unless another follower already was: exactly one
   * per wave; when the wave's re-election is used up this ends as `fail`),
   * or `fail` ({@link CoalescerError} `follower-timeout`, 503 +
   * `Retry-After`). A throwing callback rejects the call with its error.
   * @default () => 'new-leader'
   */
  onFollowerTimeout?: (info: FollowerTimeoutInfo) => FollowerTimeoutDecision;
  /**
   * Deadline of this caller's leader call, in ms: its `AbortSignal` aborts
   * then, and the call counts as failed (`CoalescerError`
   * `leader-deadline`) even if the function ignores the signal.
   * @default the Coalescer's `leaderTimeoutMs`
   */
  leaderTimeoutMs?: number;
  /**
   * Ends this caller's wait (its promise rejects with `signal.reason`).
   * It never aborts a leader call other callers share; it does abort this
   * caller's own unshared (`alone`) call.
   * @default none
   */
  signal?: AbortSignal;
}

/**
 * How a {@link Coalescer.run} call was answered. `value` may be shared
 * between callers: treat it as immutable. `waitedMs` is the time from the
 * `run` call to its answer (for a leader, its origin call included).
 */
export type CoalesceOutcome<T> =
  /** This caller's own `leader` function ran (first caller, or re-elected); the result was offered to followers. */
  | { role: 'leader'; value: T; waitedMs: number }
  /** Another caller's leader result (collapsed request). */
  | { role: 'follower'; value: T; waitedMs: number }
  /** The leader's result was not shareable, so this caller's own `leader` function ran, unshared. */
  | { role: 'alone'; value: T; waitedMs: number }
  /** The wait ran out and `onFollowerTimeout` said `stale`: serve the stale copy. */
  | { role: 'stale'; waitedMs: number };

/** Options of {@link Coalescer}. */
export interface CoalescerOptions {
  /**
   * Longest a follower waits for the leader it follows, in ms, before
   * `onFollowerTimeout` decides. After a re-election the remaining
   * followers wait again, at most this long, for the new leader (so at most
   * twice this in all).
   * @default 5000
   */
  followerWaitMs?: number;
  /**
   * Callers that may wait behind one key's leader; one more gets
   * {@link CoalescerError} `over-capacity` at once.
   * @default 10000
   */
  maxFollowers?: number;
  /**
   * Deadline of a leader call, in ms (see {@link CoalesceRunOptions.leaderTimeoutMs}).
   * @default 10000
   */
  leaderTimeoutMs?: number;
  /**
   * `retryAfterSeconds` of the `over-capacity` and `follower-timeout` errors.
   * @default 1
   */
  retryAfterSeconds?: number;
  /**
   * Registry for `flotilla_shield_coalesce_*` metrics (reused when already
   * registered there).
   * @default a private Registry
   */
  registry?: Registry;
  /** Clock in ms, for `waitedMs`. @default Date.now */
  now?: () => number;
  /** Timers for follower waits and leader deadlines. @default {@link systemTimers} */
  timers?: CacheTimers;
}

interface CoalescerMetrics {
  leaders: Counter<'reason'>;
  coalesced: Counter;
  timeouts: Counter<'decision'>;
  overflows: Counter;
  passes: Counter;
}

function coalescerMetrics(registry: Registry): CoalescerMetrics {
  const metrics: CoalescerMetrics = {
    leaders: sharedCounter(registry, {
      name: 'flotilla_shield_coalesce_leaders_total',
      help: 'Leader calls started for coalesced misses, by reason (first, leader-error, follower-timeout).',
      labelNames: ['reason'],
    }),
    coalesced: sharedCounter(registry, {
      name: 'flotilla_shield_coalesced_total',
      help: "Followers answered with a leader's result instead of going to the origin.",
    }),
    timeouts: sharedCounter(registry, {
      name: 'flotilla_shield_coalesce_timeouts_total',
      help: 'Follower waits that ran out, by the decision taken (stale, new-leader, fail).',
      labelNames: ['decision'],
    }),
    overflows: sharedCounter(registry, {
      name: 'flotilla_shield_coalesce_overflows_total',
      help: 'Callers turned away because a key already had maxFollowers waiting.',
    }),
    passes: sharedCounter(registry, {
      name: 'flotilla_shield_coalesce_passes_total',
      help: "Followers sent to the origin on their own because the leader's result was not shareable.",
    }),
  };
  // Known labels start at 0, so rate() sees the first event.
  startAtZero(
    metrics.leaders,
    combinations({ reason: ['first', 'leader-error', 'follower-timeout'] }),
  );
  startAtZero(metrics.timeouts, combinations({ decision: ['stale', 'new-leader', 'fail'] }));
  return metrics;
}

type Settle<T> = (
  result: { ok: true; value: CoalesceOutcome<T> } | { ok: false; err: unknown },
) => void;

// One caller of run(): the first one leads, the others follow.
interface Caller<T> {
  readonly leader: (signal: AbortSignal) => Promise<T>;
  readonly opts: CoalesceRunOptions<T>;
  readonly joinedAt: number;
  settled: boolean;
  settle: Settle<T>;
  timer: unknown;
  // Bumped whenever the follower's timer is re-armed or cleared; a stale firing is ignored.
  timerGen: number;
}

// The coalesced miss of one key: leader calls running and the followers waiting for them.
interface Flight<T> {
  readonly key: string;
  readonly followers: Set<Caller<T>>;
  running: number;
  reelected: boolean;
  done: boolean;
}

/**
 * Collapses concurrent misses for one key into one origin call. The first
 * caller of {@link Coalescer.run} for a key leads: its `leader` function
 * runs; callers arriving while it runs follow and get its result.
 *
 * Nothing a leader does can poison or stall its followers indefinitely:
 * - it rejects: one follower is re-elected and runs its own `leader`
 *   function for the rest (once per wave; then they get the error), unless
 *   `isFinalError` says the error is final;
 * - it hangs: each follower waits at most `followerWaitMs`, then
 *   `onFollowerTimeout` picks stale / new leader / 503; the leader itself is
 *   bounded by its deadline (`leaderTimeoutMs`, via its AbortSignal);
 * - its result is not `shareable`: followers each run their own `leader`
 *   function, unshared (the caller then marks the key hit-for-pass).
 * Whichever leader call of a wave settles first answers the followers
 * still waiting. Results are not kept: once a wave is answered, the next
 * caller leads a new one.
 *
 * @example
 * const coalescer = new Coalescer<CachedResponse>({ registry, followerWaitMs: 5000 });
 * const out = await coalescer.run(key, (signal) => forward(req, signal), {
 *   shareable: (res) => isStorable(res),
 *   onFollowerTimeout: () => (stale ? 'stale' : 'new-leader'),
 * });
 * if (out.role === 'stale') return serve(stale);
 */
export class Coalescer<T> {
  readonly #flights = new Map<string, Flight<T>>();
  readonly #followerWaitMs: number;
  readonly #maxFollowers: number;
  readonly #leaderTimeoutMs: number;
  readonly #retryAfterSeconds: number;
  readonly #now: () => number;
  readonly #timers: CacheTimers;
  readonly #metrics: CoalescerMetrics;

  constructor(options: CoalescerOptions = {}) {
    this.#followerWaitMs = positiveInt('followerWaitMs', options.followerWaitMs, 5000);
    this.#maxFollowers = positiveInt('maxFollowers', options.maxFollowers, 10_000);
    this.#leaderTimeoutMs = positiveInt('leaderTimeoutMs', options.leaderTimeoutMs, 10_000);
    this.#retryAfterSeconds = positiveInt('retryAfterSeconds', options.retryAfterSeconds, 1);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new InvalidOptionError('now', 'must be a function returning ms');
    }
    this.#now = options.now ?? Date.now;
    this.#timers = timersOption(options.timers);
    this.#metrics = coalescerMetrics(options.registry ?? new Registry());
  }

  /** Keys with a coalesced miss under way. */
  get inFlight(): number {
    return this.#flights.size;
  }

  /** Followers waiting behind `key`'s leader (0 when none is running). */
  waiting(key: string): number {
    return this.#flights.get(key)?.followers.size ?? 0;
  }

  /**
   * Runs `leader` for `key`, or joins the call already running for it.
   *
   * Resolves with the role this caller ended up in and the value; rejects
   * with the leader's error (for the leader itself; for followers when it
   * is final or the wave's re-election failed too), with
   * {@link CoalescerError} (`over-capacity`, `follower-timeout`,
   * `leader-deadline`), or with `opts.signal.reason`.
   */
  run(
    key: string,
    leader: (signal: AbortSignal) => Promise<T>,
    opts: CoalesceRunOptions<T> = {},
  ): Promise<CoalesceOutcome<T>> {
    if (typeof key !== 'string') throw new InvalidOptionError('key', 'must be a string');
    if (typeof leader !== 'function') throw new InvalidOptionError('leader', 'must be a function');
    if (opts.leaderTimeoutMs !== undefined) {
      positiveInt('leaderTimeoutMs', opts.leaderTimeoutMs, this.#leaderTimeoutMs);
    }
    return new Promise<CoalesceOutcome<T>>((resolve, reject) => {
      const signal = opts.signal;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const caller: Caller<T> = {
        leader,
        opts,
        joinedAt: this.#now(),
        settled: false,
        timer: undefined,
        timerGen: 0,
        settle: (result) => {
          if (caller.settled) return;
          caller.settled = true;
          this.#clearTimer(caller);
          signal?.removeEventListener('abort', onAbort);
          if (result.ok) resolve(result.value);
          else reject(result.err);
        },
      };
      const onAbort = (): void => {
        this.#flights.get(key)?.followers.delete(caller);
        caller.settle({ ok: false, err: signal?.reason });
      };

      const flight = this.#flights.get(key);
      if (flight === undefined) {
        const fresh: Flight<T> = {
          key,
          followers: new Set(),
          running: 0,
          reelected: false,
          done: false,
        };
        this.#flights.set(key, fresh);
        signal?.addEventListener('abort', onAbort, { once: true });
        this.#lead(fresh, caller, 'first');
        return;
      }
      if (flight.followers.size >= this.#maxFollowers) {
        this.#metrics.overflows.inc();
        reject(
          new CoalescerError(
            'over-capacity',
            key,
            `${flight.followers.size} callers already wait for key ${JSON.stringify(key)} (maxFollowers)`,
            this.#retryAfterSeconds,
          ),
        );
        return;
      }
      flight.followers.add(caller);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#arm(flight, caller);
    });
  }

  // Starts `caller`'s leader function on behalf of `flight`.
  #lead(
    flight: Flight<T>,
    caller: Caller<T>,
    reason: 'first' | 'leader-error' | 'follower-timeout',
  ): void {
    flight.running++;
    this.#metrics.leaders.inc({ reason });
    this.#clearTimer(caller);
    this.#call(flight.key, caller).then(
      (value) => {
        caller.settle({
          ok: true,
          value: { role: 'leader', value, waitedMs: this.#waited(caller) },
        });
        this.#leaderFulfilled(flight, caller, value);
      },
      (err: unknown) => {
        caller.settle({ ok: false, err });
        this.#leaderRejected(flight, caller, err);
      },
    );
  }

  #leaderFulfilled(flight: Flight<T>, leader: Caller<T>, value: T): void {
    flight.running--;
    if (flight.done) return;
    let share: boolean;
    try {
      share = leader.opts.shareable === undefined || leader.opts.shareable(value) === true;
    } catch {
      share = false;
    }
    const followers = this.#finish(flight);
    if (share) {
      this.#metrics.coalesced.inc(followers.length);
      for (const f of followers) {
        f.settle({ ok: true, value: { role: 'follower', value, waitedMs: this.#waited(f) } });
      }
      return;
    }
    this.#metrics.passes.inc(followers.length);
    for (const f of followers) this.#alone(flight.key, f);
  }

  #leaderRejected(flight: Flight<T>, leader: Caller<T>, err: unknown): void {
    flight.running--;
    if (flight.done) return;
    let final: boolean;
    try {
      final = leader.opts.isFinalError?.(err) === true;
    } catch {
      final = false;
    }
    if (!final) {
      // Another leader of this wave (elected after a timeout) may still answer.
      if (flight.running > 0) return;
      const next = flight.followers.values().next();
      if (!flight.reelected && !next.done) {
        this.#elect(flight, next.value, 'leader-error');
        return;
      }
    }
    for (const f of this.#finish(flight)) f.settle({ ok: false, err });
  }

  // `caller` (a follower of `flight`) becomes the wave's one re-elected leader.
  #elect(flight: Flight<T>, caller: Caller<T>, reason: 'leader-error' | 'follower-timeout'): void {
    flight.reelected = true;
    flight.followers.delete(caller);
    this.#lead(flight, caller, reason);
    // The others now follow the new leader, each again for at most followerWaitMs.
    for (const f of flight.followers) this.#arm(flight, f);
  }

  #followerTimedOut(flight: Flight<T>, caller: Caller<T>): void {
    if (caller.settled || !flight.followers.has(caller)) return;
    const canElect = !flight.reelected;
    let decision: FollowerTimeoutDecision;
    try {
      decision =
        caller.opts.onFollowerTimeout?.({
          key: flight.key,
          waitedMs: this.#waited(caller),
          canElect,
        }) ?? 'new-leader';
    } catch (err) {
      this.#metrics.timeouts.inc({ decision: 'fail' });
      flight.followers.delete(caller);
      caller.settle({ ok: false, err });
      return;
    }
    if (decision === 'new-leader' && canElect) {
      this.#metrics.timeouts.inc({ decision: 'new-leader' });
      this.#elect(flight, caller, 'follower-timeout');
      return;
    }
    flight.followers.delete(caller);
    if (decision === 'stale') {
      this.#metrics.timeouts.inc({ decision: 'stale' });
      caller.settle({ ok: true, value: { role: 'stale', waitedMs: this.#waited(caller) } });
      return;
    }
    this.#metrics.timeouts.inc({ decision: 'fail' });
    const why =
      decision === 'new-leader'
        ? 'and this wave already re-elected its leader'
        : 'and fail was chosen';
    caller.settle({
      ok: false,
      err: new CoalescerError(
        'follower-timeout',
        flight.key,
        `no result for key ${JSON.stringify(flight.key)} within followerWaitMs (${this.#followerWaitMs} ms) ${why}`,
        this.#retryAfterSeconds,
      ),
    });
  }

  // The follower runs its own leader function, unshared.
  #alone(key: string, caller: Caller<T>): void {
    if (caller.settled) return;
    this.#call(key, caller, caller.opts.signal).then(
      (value) =>
        caller.settle({
          ok: true,
          value: { role: 'alone', value, waitedMs: this.#waited(caller) },
        }),
      (err: unknown) => caller.settle({ ok: false, err }),
    );
  }

  // Calls caller.leader under its deadline; settles at the deadline even if the function ignores the signal.
  #call(key: string, caller: Caller<T>, link?: AbortSignal): Promise<T> {
    const timeoutMs = caller.opts.leaderTimeoutMs ?? this.#leaderTimeoutMs;
    const controller = new AbortController();
    return new Promise<T>((resolve, reject) => {
      const onLinkAbort = (): void => controller.abort(link?.reason);
      const onAbort = (): void => {
        cleanup();
        reject(controller.signal.reason);
      };
      const timer = this.#timers.setTimeout(() => {
        controller.abort(
          new CoalescerError(
            'leader-deadline',
            key,
            `leader call for key ${JSON.stringify(key)} did not settle within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        this.#timers.clearTimeout(timer);
        controller.signal.removeEventListener('abort', onAbort);
        link?.removeEventListener('abort', onLinkAbort);
      };
      controller.signal.addEventListener('abort', onAbort, { once: true });
      if (link?.aborted) onLinkAbort();
      else link?.addEventListener('abort', onLinkAbort, { once: true });
      if (controller.signal.aborted) return;
      let pending: Promise<T>;
      try {
        pending = Promise.resolve(caller.leader(controller.signal));
      } catch (err) {
        pending = Promise.reject(err);
      }
      pending.then(
        (value) => {
          cleanup();
          resolve(value);
        },
        (err: unknown) => {
          cleanup();
          reject(err);
        },
      );
    });
  }

  // Ends the wave: new callers start a new one. Returns the followers still waiting.
  #finish(flight: Flight<T>): Caller<T>[] {
    flight.done = true;
    if (this.#flights.get(flight.key) === flight) this.#flights.delete(flight.key);
    const followers = [...flight.followers];
    flight.followers.clear();
    for (const f of followers) this.#clearTimer(f);
    return followers;
  }

  #arm(flight: Flight<T>, caller: Caller<T>): void {
    this.#clearTimer(caller);
    const gen = caller.timerGen;
    caller.timer = this.#timers.setTimeout(() => {
      if (caller.timerGen !== gen) return;
      caller.timer = undefined;
      this.#followerTimedOut(flight, caller);
    }, this.#followerWaitMs);
  }

  #clearTimer(caller: Caller<T>): void {
    caller.timerGen++;
    if (caller.timer !== undefined) {
      this.#timers.clearTimeout(caller.timer);
      caller.timer = undefined;
    }
  }

  #waited(caller: Caller<T>): number {
    return Math.max(0, this.#now() - caller.joinedAt);
  }
}
