/**
 * Repeated log lines, collapsed: after `burst` lines of one kind (same level
 * and message) within `windowMs`, further ones are counted instead of
 * written, and one line says how many there were (`repeated: n`) when the
 * window ends. A stale page served for every request during a NATS outage
 * logged one `revalidation failed` line each (9,299 in one outage); now it
 * logs ten, then a count every ten seconds.
 *
 * The bundles' console lines (`source: 'app'`) are left alone: the worker
 * already holds each isolate to an output budget, and an app's lines are
 * its developer's to read.
 *
 * @module
 */
import type { LogFn, LogLine } from '@flotilla/protocol';

/** Options of {@link limitRepeats}. */
export interface RepeatLimit {
  /** Lines of one kind written per window before they are counted instead. @default 10 */
  burst?: number;
  /** @default 10000 */
  windowMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Kinds tracked at most; past it, the window ends early for all (the counts are written). */
const MAX_KINDS = 1000;

interface Kind {
  started: number;
  written: number;
  dropped: number;
  /** The first line dropped, for the summary's fields. */
  sample: LogLine | undefined;
}

/** A {@link LogFn} that collapses repeats, and `flush` (writes the counts now: at exit). */
export interface LimitedLog {
  log: LogFn;
  /** Writes the pending counts and starts every window anew. */
  flush(): void;
  /** Writes the counts of the windows that have ended (call it every window or so). */
  sweep(): void;
}

/** Wraps `log` (see the module documentation). */
export function limitRepeats(log: LogFn, options: RepeatLimit = {}): LimitedLog {
  const burst = options.burst ?? 10;
  const windowMs = options.windowMs ?? 10_000;
  const now = options.now ?? Date.now;
  const kinds = new Map<string, Kind>();

  const summarise = (kind: Kind) => {
    if (kind.dropped === 0 || kind.sample === undefined) return;
    const { msg, level, ...fields } = kind.sample;
    log({
      ...fields,
      ...(level === undefined ? {} : { level }),
      msg,
      repeated: kind.dropped,
      note: `${kind.dropped} more line(s) like this one in ${Math.round((now() - kind.started) / 1000)} s were not written`,
    });
  };
  const flush = () => {
    for (const kind of kinds.values()) summarise(kind);
    kinds.clear();
  };

  return {
    flush,
    sweep() {
      const t = now();
      for (const [key, kind] of kinds) {
        if (t - kind.started < windowMs) continue;
        summarise(kind);
        kinds.delete(key);
      }
    },
    log(line) {
      if (line.source === 'app') {
        log(line);
        return;
      }
      const key = `${String(line.level ?? 'info')}\n${String(line.msg ?? '')}`;
      const t = now();
      let kind = kinds.get(key);
      if (kind && t - kind.started >= windowMs) {
        summarise(kind);
        kind = undefined;
      }
      if (!kind) {
        if (kinds.size >= MAX_KINDS) flush();
        kind = { started: t, written: 0, dropped: 0, sample: undefined };
        kinds.set(key, kind);
      }
      if (kind.written < burst) {
        kind.written++;
        log(line);
        return;
      }
      kind.dropped++;
      kind.sample ??= line;
    },
  };
}
