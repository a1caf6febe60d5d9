import type { LogFn } from '@flotilla/protocol';
import { InvalidOptionError, nonEmptyString, positiveInt, required } from '@flotilla/protocol';
import { JetStreamApiCodes } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { fn } from './options.ts';

/**
 * A leader lease in a JetStream key-value bucket, so that exactly one of the
 * region's scheduler replicas actuates the autoscaler at a time.
 *
 * Design (it must work on nats-server 2.9, which has no per-key TTL; that
 * came with 2.11):
 *
 * - The value of the key is `{ holder, ttlMs, renewedAt, expiresAt }`.
 *   `renewedAt`/`expiresAt` are wall-clock times for operators reading the
 *   bucket (`nats kv get`); the algorithm never compares clocks of different
 *   machines.
 * - Acquire: `create` (fails when the key exists and is not deleted).
 * - Renew: every `renewEveryMs` (TTL/3), `update` with the revision last
 *   written (compare-and-set). A CAS conflict means someone else holds it:
 *   lost at once.
 * - Expiry as the holder sees it: if no renewal *sent* at time `s` has
 *   succeeded, the holder steps down at `s + ttl − guard` on its own
 *   monotonic clock, even while the store is unreachable.
 * - Expiry as a candidate sees it: a candidate polls the key every
 *   `retryEveryMs`; a revision it has watched stay unchanged for the holder's
 *   `ttlMs` (measured on the candidate's monotonic clock from when it first
 *   saw that revision) is stale, and the candidate takes it over with a CAS
 *   `update` on that revision (two candidates racing: one CAS wins).
 *   Because a revision is first seen no earlier than it was written, and it
 *   was written no earlier than the holder sent it, a takeover happens no
 *   earlier than the holder's own step-down. Only clock *rates* must agree
 *   (within `guard`), never clock values.
 * - Release: on {@link LeaderLease.close} the holder deletes the key with a
 *   CAS on its revision, so a candidate takes over on its next poll instead
 *   of after a TTL.
 *
 * Takeover after a holder dies is therefore between TTL − renew interval and
 * TTL + poll interval after its last renewal (5–6 s at the defaults).
 */

/**
 * The part of a JetStream KV bucket the lease uses. A bucket from
 * `@nats-io/kv` (see {@link openLeaseBucket}) satisfies it; tests may pass a fake.
 */
export interface LeaseStore {
  /** The latest entry of `key`, a delete marker, or `null` when never written. */
  get(key: string): Promise<LeaseStoreEntry | null>;
  /** Writes `key` only when it does not exist (or was deleted); resolves with the revision. */
  create(key: string, value: Uint8Array): Promise<number>;
  /**
   * Writes `key` only when its latest revision is `revision`; resolves with
   * the new revision. `timeoutMs` bounds the wait for the store's answer.
   */
  update(key: string, value: Uint8Array, revision: number, timeoutMs?: number): Promise<number>;
  /** Deletes `key`, only when its latest revision is `previousSeq` (when given). */
  delete(key: string, options?: { previousSeq?: number }): Promise<void>;
}

/** An entry of a {@link LeaseStore}. */
export interface LeaseStoreEntry {
  readonly revision: number;
  /** `PUT`, or `DEL` / `PURGE` for a deleted key. */
  readonly operation: string;
  readonly value: Uint8Array;
}

/** What the lease key holds (JSON). */
export interface LeaseRecord {
  /** Id of the holder (e.g. the scheduler id). */
  holder: string;
  /** Lease time to live the holder uses, ms. */
  ttlMs: number;
  /** Wall-clock time of this renewal, epoch ms (informational). */
  renewedAt: number;
  /** Wall-clock time at which the lease lapses unless renewed, epoch ms (informational). */
  expiresAt: number;
}

/** Why a holder lost the lease. */
export type LeaseLossReason = 'expired' | 'taken' | 'closed';

/** Options of {@link openLeaseBucket}. */
export interface LeaseBucketOptions {
  /**
   * Bucket name.
   * @default 'flotilla_leases'
   */
  bucket?: string;
  /**
   * Replicas of the bucket's stream (use 3 on a clustered JetStream).
   * @default 1
   */
  replicas?: number;
}

/** Default bucket of leader leases. */
export const DEFAULT_LEASE_BUCKET = 'flotilla_leases';

/**
 * Opens (creating it when missing) the KV bucket that holds leader leases:
 * history 1, no bucket TTL (leases expire by the protocol described on
 * {@link LeaderLease}, which works on nats-server 2.9).
 */
export async function openLeaseBucket(
  connection: NatsConnection,
  options: LeaseBucketOptions = {},
): Promise<KV> {
  required('connection', connection);
  const bucket = nonEmptyString('bucket', options.bucket, DEFAULT_LEASE_BUCKET);
  const replicas = positiveInt('replicas', options.replicas, 1);
  const kvm = new Kvm(connection);
  try {
    return await kvm.create(bucket, {
      history: 1,
      replicas,
      description: 'Flotilla leader leases (autoscaler.<region> → holder)',
    });
  } catch (err) {
    // Replicas starting together race to create the bucket: the loser's
    // stream add fails (e.g. "subjects overlap") although the bucket now
    // exists, so it opens the winner's bucket instead of failing.
    try {
      return await kvm.open(bucket);
    } catch {
      throw err;
    }
  }
}

/** The lease key of the autoscaler of `region`. */
export function autoscalerLeaseKey(region: string): string {
  return `autoscaler.${region}`;
}

/** Options of {@link LeaderLease}. */
export interface LeaderLeaseOptions {
  /** The bucket (see {@link openLeaseBucket}). */
  store: LeaseStore;
  /** Key of the lease, e.g. {@link autoscalerLeaseKey}(region). */
  key: string;
  /** Id of this candidate; unique among candidates (e.g. the scheduler id). */
  holderId: string;
  /**
   * Lease time to live: a holder that has not renewed for this long has lost
   * it, and a candidate may take it over.
   * @default 5000
   */
  ttlMs?: number;
  /**
   * Renewal interval of the holder; at most a third of the TTL is sensible.
   * @default ttlMs / 3
   */
  renewEveryMs?: number;
  /**
   * Poll interval of a candidate (how soon it notices a free or stale lease).
   * @default ttlMs / 5
   */
  retryEveryMs?: number;
  /**
   * Safety margin: the holder steps down this long before its lease could be
   * seen as stale by others (covers clock-rate drift and timer lateness).
   * @default min(500, ttlMs / 10)
   */
  guardMs?: number;
  /** Monotonic clock, ms. @default performance.now */
  clock?: () => number;
  /** Wall clock for the informational times in the record, epoch ms. @default Date.now */
  wallClock?: () => number;
  /** Structured log sink. @default no logging */
  log?: LogFn;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** True when `err` is a JetStream compare-and-set conflict ("wrong last sequence"). */
export function isCasConflict(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === JetStreamApiCodes.StreamWrongLastSequence ||
    code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
  );
}

function parseRecord(value: Uint8Array): Partial<LeaseRecord> {
  try {
    const v = JSON.parse(decoder.decode(value)) as unknown;
    return typeof v === 'object' && v !== null ? (v as Partial<LeaseRecord>) : {};
  } catch {
    return {};
  }
}

/**
 * One candidate for a leader lease. {@link LeaderLease.start} campaigns until
 * {@link LeaderLease.close}; listeners hear when this candidate becomes the
 * holder and when it stops being it.
 *
 * @example
 * const store = await openLeaseBucket(nc);
 * const lease = new LeaderLease({ store, key: autoscalerLeaseKey('us-east'), holderId: schedulerId });
 * lease.onAcquired(() => log({ msg: 'leading' }));
 * lease.onLost((reason) => log({ msg: 'not leading', reason }));
 * lease.start();
 */
export class LeaderLease {
  readonly key: string;
  readonly holderId: string;
  readonly ttlMs: number;
  readonly #store: LeaseStore;
  readonly #renewEveryMs: number;
  readonly #retryEveryMs: number;
  readonly #guardMs: number;
  readonly #clock: () => number;
  readonly #wallClock: () => number;
  readonly #log: LogFn;
  readonly #acquired = new Set<() => void>();
  readonly #lost = new Set<(reason: LeaseLossReason) => void>();
  #started = false;
  #closed = false;
  #leader = false;
  /** Revision this candidate last wrote (valid while leader, and just after). */
  #revision = 0;
  /** Monotonic time the last successful renewal (or acquisition) was sent. */
  #renewSentAt = 0;
  /** The revision a candidate watches and when it first saw it. */
  #observed: { revision: number; since: number; ttlMs: number; holder: string } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #lastError: string | undefined;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: LeaderLeaseOptions) {
    this.#store = required('store', options?.store);
    this.key = nonEmptyString('key', options.key);
    if (!/^[-/=.\w]+$/.test(this.key) || this.key.startsWith('.') || this.key.endsWith('.')) {
      throw new InvalidOptionError(
        'key',
        `must be a valid KV key, got ${JSON.stringify(this.key)}`,
      );
    }
    this.holderId = nonEmptyString('holderId', options.holderId);
    this.ttlMs = positiveInt('ttlMs', options.ttlMs, 5000);
    this.#renewEveryMs = positiveInt(
      'renewEveryMs',
      options.renewEveryMs,
      Math.max(1, Math.floor(this.ttlMs / 3)),
    );
    this.#retryEveryMs = positiveInt(
      'retryEveryMs',
      options.retryEveryMs,
      Math.max(1, Math.floor(this.ttlMs / 5)),
    );
    this.#guardMs = positiveInt(
      'guardMs',
      options.guardMs,
      Math.max(1, Math.min(500, Math.floor(this.ttlMs / 10))),
    );
    if (this.#renewEveryMs + this.#guardMs >= this.ttlMs) {
      throw new InvalidOptionError(
        'renewEveryMs',
        `plus guardMs (${this.#guardMs}) must be less than ttlMs (${this.ttlMs}), got ${this.#renewEveryMs}`,
      );
    }
    this.#clock = fn('clock', options.clock, () => performance.now());
    this.#wallClock = fn('wallClock', options.wallClock, Date.now);
    this.#log = fn('log', options.log, () => {});
  }

  /** True while this candidate holds the lease (and it has not lapsed). */
  get isLeader(): boolean {
    return this.#leader && this.#clock() < this.#renewSentAt + this.ttlMs - this.#guardMs;
  }

  /** The holder last seen in the store (this candidate's id while leading), if any. */
  get holder(): string | undefined {
    if (this.#leader) return this.holderId;
    return this.#observed?.holder;
  }

  /** Calls `listener` each time this candidate becomes the holder. Returns an unsubscribe function. */
  onAcquired(listener: () => void): () => void {
    this.#acquired.add(listener);
    return () => this.#acquired.delete(listener);
  }

  /** Calls `listener` each time this candidate stops being the holder. Returns an unsubscribe function. */
  onLost(listener: (reason: LeaseLossReason) => void): () => void {
    this.#lost.add(listener);
    return () => this.#lost.delete(listener);
  }

  /** Starts campaigning (tries at once). Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#schedule(0);
  }

  /**
   * Stops campaigning; a holder releases the lease (deleting the key with a
   * CAS), so another candidate takes over on its next poll. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
    const wasLeader = this.#leader;
    const revision = this.#revision;
    this.#setFollower('closed');
    if (wasLeader && revision > 0) {
      try {
        await this.#store.delete(this.key, { previousSeq: revision });
        this.#log({ msg: 'lease released', key: this.key, holder: this.holderId });
      } catch (err) {
        // Someone else took it, or the store is gone: it lapses by itself.
        this.#log({ msg: 'lease release failed', key: this.key, error: (err as Error).message });
      }
    }
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().finally(() => {
        this.#running = undefined;
      });
    }, ms);
    this.#timer.unref();
  }

  #record(): Uint8Array {
    const wall = this.#wallClock();
    const record: LeaseRecord = {
      holder: this.holderId,
      ttlMs: this.ttlMs,
      renewedAt: wall,
      expiresAt: wall + this.ttlMs,
    };
    return encoder.encode(JSON.stringify(record));
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    try {
      if (this.#leader) await this.#renew();
      else await this.#campaign();
      this.#noteError(undefined);
    } catch (err) {
      this.#noteError(err);
    }
    this.#schedule(this.#leader ? this.#renewEveryMs : this.#retryEveryMs);
  }

  #noteError(err: unknown): void {
    const message = err === undefined ? undefined : ((err as Error)?.message ?? String(err));
    if (message !== this.#lastError && message !== undefined) {
      this.#log({ msg: 'lease store error', key: this.key, error: message });
    }
    this.#lastError = message;
  }

  async #renew(): Promise<void> {
    const sentAt = this.#clock();
    try {
      const revision = await this.#store.update(
        this.key,
        this.#record(),
        this.#revision,
        this.#renewEveryMs,
      );
      this.#revision = revision;
      if (this.#closed) return;
      if (this.#leader) {
        this.#renewSentAt = sentAt;
        this.#armExpiry();
      }
    } catch (err) {
      if (isCasConflict(err)) {
        this.#setFollower('taken');
        return;
      }
      throw err; // transient: retried next tick; the expiry timer steps down in time
    }
  }

  async #campaign(): Promise<void> {
    const entry = await this.#store.get(this.key);
    if (this.#closed) return;
    const now = this.#clock();
    if (entry === null || entry.operation === 'DEL' || entry.operation === 'PURGE') {
      await this.#claim(now, () => this.#store.create(this.key, this.#record()));
      return;
    }
    const record = parseRecord(entry.value);
    const holder = typeof record.holder === 'string' ? record.holder : '?';
    const ttlMs = typeof record.ttlMs === 'number' && record.ttlMs > 0 ? record.ttlMs : this.ttlMs;
    if (this.#observed?.revision !== entry.revision) {
      this.#observed = { revision: entry.revision, since: now, ttlMs, holder };
    }
    // Our own record (a renewal that landed after we stepped down, or a
    // restart with the same id): reclaim it through the CAS at once.
    const mine = holder === this.holderId;
    if (mine || now - this.#observed.since >= this.#observed.ttlMs) {
      await this.#claim(now, () => this.#store.update(this.key, this.#record(), entry.revision));
    }
  }

  async #claim(sentAt: number, write: () => Promise<number>): Promise<void> {
    let revision: number;
    try {
      revision = await write();
    } catch (err) {
      if (isCasConflict(err)) return; // another candidate was faster
      throw err;
    }
    this.#revision = revision;
    if (this.#closed) {
      // Closed while claiming: give it back right away.
      await this.#store.delete(this.key, { previousSeq: revision }).catch(() => {});
      return;
    }
    this.#renewSentAt = sentAt;
    this.#leader = true;
    this.#observed = undefined;
    this.#armExpiry();
    this.#log({ msg: 'lease acquired', key: this.key, holder: this.holderId, revision });
    for (const l of [...this.#acquired]) {
      try {
        l();
      } catch (err) {
        this.#log({ msg: 'lease listener failed', error: (err as Error).message });
      }
    }
  }

  #armExpiry(): void {
    clearTimeout(this.#expiryTimer);
    const at = this.#renewSentAt + this.ttlMs - this.#guardMs;
    // Timers may fire a little early by the monotonic clock: re-arm until due.
    this.#expiryTimer = setTimeout(
      () => {
        if (!this.#leader) return;
        if (this.#clock() >= at) this.#setFollower('expired');
        else this.#armExpiry();
      },
      Math.max(0, Math.ceil(at - this.#clock())),
    );
    this.#expiryTimer.unref();
  }

  #setFollower(reason: LeaseLossReason): void {
    clearTimeout(this.#expiryTimer);
    if (!this.#leader) return;
    this.#leader = false;
    this.#observed = undefined;
    this.#log({ msg: 'lease lost', key: this.key, holder: this.holderId, reason });
    for (const l of [...this.#lost]) {
      try {
        l(reason);
      } catch (err) {
        this.#log({ msg: 'lease listener failed', error: (err as Error).message });
      }
    }
    // Campaign again soon (a holder that lapsed may still win the next round).
    if (!this.#closed && this.#running === undefined) this.#schedule(this.#retryEveryMs);
  }
}
