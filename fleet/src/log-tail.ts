/**
 * The process side of `flotilla logs`: a shield or worker keeps its recent
 * lines per app (the shield's access lines, the bundles' console lines on a
 * worker) in small ring buffers, answers tail requests with them, and while
 * a tail's lease lasts publishes the app's new matching lines on the app's
 * lines subject. Nothing is published while nobody tails an app: a line
 * costs a ring-buffer slot, no NATS message.
 *
 * Everything is bounded: lines per app kept, apps kept, tails, lines per
 * second published per app (the rest are counted as `dropped`), bytes per
 * answer, and the length of one message.
 *
 * @module
 */
import {
  appOfLogSubject,
  decodeTailRequest,
  encodeTailAnswer,
  InvalidOptionError,
  LOG_SUBJECT_PATTERNS,
  type LogEntry,
  type LogFn,
  type LogSource,
  logLinesSubject,
  positiveInt,
  required,
  type TailRequest,
  tailMatcher,
} from '@flotilla/protocol';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';

/** Bounds of a {@link LogTail}. */
export interface LogTailLimits {
  /** Recent lines kept per app. @default 200 */
  recentPerApp?: number;
  /** Apps whose recent lines are kept (the least recently logged one is forgotten first). @default 64 */
  apps?: number;
  /** Tails followed at once (all apps); more are answered but get no lease. @default 32 */
  tails?: number;
  /** Lines published per second per app; the rest are counted as `dropped`. @default 200 */
  linesPerSecond?: number;
  /** How long new lines wait to go out together, ms. @default 100 */
  flushMs?: number;
  /** Bytes of lines in one answer or message (the newest are kept). @default 512 KiB */
  maxMessageBytes?: number;
}

/** Options of {@link LogTail}. */
export interface LogTailOptions {
  /** The process's NATS connection. */
  connection: NatsConnection;
  /** `shield` or `worker`, in answers and on lines. */
  role: string;
  /** The shield's or worker's id. */
  id: string;
  region: string;
  /** Where a failed publish is reported. @default none */
  log?: LogFn;
  limits?: LogTailLimits;
  /** @default Date.now */
  clock?: () => number;
}

/** Longest message of one line kept (longer ones are cut, marked `truncated`). */
const MAX_MSG_CHARS = 4096;

interface Tail {
  match: (line: LogEntry) => boolean;
  expiresAt: number;
}

/**
 * A line as kept: the logger's line itself (never copied; nobody changes it
 * after logging it), when, and from where. It becomes a {@link LogEntry}
 * only when an answer or a tail needs it.
 */
interface Kept {
  at: number;
  source: LogSource;
  line: Record<string, unknown>;
  app: string;
}

/** The last `capacity` lines of an app, oldest overwritten first. */
class Ring {
  readonly #items: (Kept | undefined)[];
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    this.#items = new Array(capacity);
  }

  push(item: Kept): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.#items.length;
    if (this.#size < this.#items.length) this.#size++;
  }

  /** The lines, newest first. */
  *newestFirst(): Generator<Kept> {
    const n = this.#items.length;
    for (let i = 1; i <= this.#size; i++) yield this.#items[(this.#next - i + n) % n] as Kept;
  }
}

interface AppLines {
  recent: Ring;
  tails: Map<string, Tail>;
  pending: LogEntry[];
  timer: NodeJS.Timeout | undefined;
  windowStart: number;
  sentInWindow: number;
  dropped: number;
}

/** The app of a deployment id (`<app>-<12 hex>`). */
function appOfDeployment(id: unknown): string | undefined {
  if (typeof id !== 'string') return undefined;
  const dash = id.lastIndexOf('-');
  return dash > 0 ? id.slice(0, dash) : undefined;
}

/** Keeps, answers and (while tailed) publishes one process's log lines per app. */
export class LogTail {
  readonly #nc: NatsConnection;
  readonly #sender: { role: string; id: string; region: string };
  readonly #log: LogFn;
  readonly #clock: () => number;
  readonly #recentPerApp: number;
  readonly #maxApps: number;
  readonly #maxTails: number;
  readonly #linesPerSecond: number;
  readonly #flushMs: number;
  readonly #maxBytes: number;
  readonly #apps = new Map<string, AppLines>();
  #lastApp: string | undefined;
  #tails = 0;
  #sub: Subscription | undefined;
  #sweep: NodeJS.Timeout | undefined;

  /** @throws InvalidOptionError naming a bad option */
  constructor(options: LogTailOptions) {
    required('options', options);
    this.#nc = required('connection', options.connection);
    for (const name of ['role', 'id', 'region'] as const) {
      if (typeof options[name] !== 'string' || options[name] === '') {
        throw new InvalidOptionError(name, 'must be a non-empty string');
      }
    }
    this.#sender = { role: options.role, id: options.id, region: options.region };
    this.#log = options.log ?? (() => {});
    this.#clock = options.clock ?? Date.now;
    const l = options.limits ?? {};
    this.#recentPerApp = positiveInt('limits.recentPerApp', l.recentPerApp, 200);
    this.#maxApps = positiveInt('limits.apps', l.apps, 64);
    this.#maxTails = positiveInt('limits.tails', l.tails, 32);
    this.#linesPerSecond = positiveInt('limits.linesPerSecond', l.linesPerSecond, 200);
    this.#flushMs = positiveInt('limits.flushMs', l.flushMs, 100);
    this.#maxBytes = positiveInt('limits.maxMessageBytes', l.maxMessageBytes, 512 * 1024);
  }

  /** Listens for tail requests. */
  start(): void {
    if (this.#sub) return;
    this.#sub = this.#nc.subscribe(LOG_SUBJECT_PATTERNS.tail, {
      callback: (err, msg) => {
        if (!err) this.#onRequest(msg);
      },
    });
    this.#sweep = setInterval(() => this.#expire(), 1000);
    this.#sweep.unref();
  }

  /** Tails being followed now (all apps). */
  get tails(): number {
    return this.#tails;
  }

  /**
   * Keeps one line of `source` (an access line, or a bundle's console line
   * with its `deployment`), and queues it for the app's tails that want it.
   * Lines of no app (a request no app serves) are not kept.
   */
  record(source: LogSource, line: Record<string, unknown>): void {
    const app =
      typeof line.app === 'string' && line.app !== ''
        ? line.app
        : source === 'app'
          ? appOfDeployment(line.deployment)
          : undefined;
    if (app === undefined) return;
    let lines = this.#apps.get(app);
    if (lines === undefined) lines = this.#appLines(app);
    else if (this.#lastApp !== app) {
      // Most recently logged last: the first app of the map is forgotten first.
      this.#apps.delete(app);
      this.#apps.set(app, lines);
    }
    this.#lastApp = app;
    const msg = line.msg;
    const kept: Kept = {
      at: this.#clock(),
      source,
      app,
      // A console line past the bound is kept cut (bounded memory).
      line:
        typeof msg === 'string' && msg.length > MAX_MSG_CHARS
          ? { ...line, msg: msg.slice(0, MAX_MSG_CHARS), truncated: true }
          : line,
    };
    lines.recent.push(kept);
    if (lines.tails.size > 0) this.#offer(app, lines, this.#entry(kept));
  }

  /** What a tail sees of a kept line. */
  #entry(kept: Kept): LogEntry {
    const { msg, level, ...fields } = kept.line;
    return {
      time: new Date(kept.at).toISOString(),
      source: kept.source,
      role: this.#sender.role,
      ...(kept.source === 'app'
        ? { level: typeof level === 'string' ? level : 'info', msg: String(msg ?? '') }
        : {}),
      ...fields,
      app: kept.app,
    };
  }

  /** Stops answering and publishing (pending lines are sent first). */
  close(): void {
    this.#sub?.unsubscribe();
    this.#sub = undefined;
    if (this.#sweep) clearInterval(this.#sweep);
    for (const [app, lines] of this.#apps) this.#flush(app, lines);
  }

  #appLines(app: string): AppLines {
    let lines = this.#apps.get(app);
    if (lines) return lines;
    if (this.#apps.size >= this.#maxApps) {
      // Forget the least recently logged app nobody tails.
      for (const [name, other] of this.#apps) {
        if (other.tails.size === 0) {
          this.#apps.delete(name);
          break;
        }
      }
    }
    lines = {
      recent: new Ring(this.#recentPerApp),
      tails: new Map(),
      pending: [],
      timer: undefined,
      windowStart: 0,
      sentInWindow: 0,
      dropped: 0,
    };
    this.#apps.set(app, lines);
    return lines;
  }

  #offer(app: string, lines: AppLines, entry: LogEntry): void {
    const now = this.#clock();
    let wanted = false;
    for (const [tailId, tail] of lines.tails) {
      if (tail.expiresAt <= now) {
        lines.tails.delete(tailId);
        this.#tails--;
      } else if (!wanted && tail.match(entry)) {
        wanted = true;
      }
    }
    if (!wanted) return;
    if (now - lines.windowStart >= 1000) {
      lines.windowStart = now;
      lines.sentInWindow = 0;
    }
    if (lines.sentInWindow >= this.#linesPerSecond) {
      lines.dropped++;
      return;
    }
    lines.sentInWindow++;
    lines.pending.push(entry);
    lines.timer ??= setTimeout(() => this.#flush(app, lines), this.#flushMs);
  }

  #flush(app: string, lines: AppLines): void {
    if (lines.timer) clearTimeout(lines.timer);
    lines.timer = undefined;
    if (lines.pending.length === 0 && lines.dropped === 0) return;
    const pending = lines.pending;
    lines.pending = [];
    const dropped = lines.dropped;
    lines.dropped = 0;
    try {
      const subject = logLinesSubject(app);
      let start = 0;
      do {
        const { body, next } = this.#encode(pending, start, dropped);
        this.#nc.publish(subject, body);
        start = next;
      } while (start < pending.length);
    } catch (err) {
      this.#log({ level: 'warn', msg: 'log tail publish failed', app, error: String(err) });
    }
  }

  /** Lines from `start` up to `maxMessageBytes`, and where the next message starts. */
  #encode(entries: readonly LogEntry[], start: number, dropped: number) {
    const out: LogEntry[] = [];
    let bytes = 0;
    let i = start;
    for (; i < entries.length; i++) {
      const entry = entries[i] as LogEntry;
      const size = JSON.stringify(entry).length;
      if (out.length > 0 && bytes + size > this.#maxBytes) break;
      out.push(entry);
      bytes += size;
    }
    return {
      body: encodeTailAnswer({
        ...this.#sender,
        dropped: start === 0 ? dropped : 0,
        refused: false,
        lines: out,
      }),
      next: i,
    };
  }

  #onRequest(msg: Msg): void {
    const app = appOfLogSubject(msg.subject);
    if (app === undefined) return;
    let req: TailRequest;
    try {
      req = decodeTailRequest(msg.data);
    } catch {
      return; // not a tail request: nothing to answer
    }
    const match = tailMatcher(req.filter);
    const lines = this.#apps.get(app) ?? (req.leaseMs > 0 ? this.#appLines(app) : undefined);
    const existing = lines?.tails.get(req.tailId);
    let refused = false;
    if (req.leaseMs === 0) {
      if (existing && lines) {
        lines.tails.delete(req.tailId);
        this.#tails--;
        this.#flush(app, lines);
      }
    } else if (lines) {
      if (existing) existing.expiresAt = this.#clock() + req.leaseMs;
      else if (this.#tails < this.#maxTails) {
        lines.tails.set(req.tailId, { match, expiresAt: this.#clock() + req.leaseMs });
        this.#tails++;
      } else {
        refused = true;
        this.#log({ level: 'warn', msg: 'log tail refused: too many tails', app });
      }
    }
    if (!msg.reply) return;
    const recent: LogEntry[] = [];
    let bytes = 0;
    for (const kept of lines?.recent.newestFirst() ?? []) {
      if (recent.length >= req.recent) break;
      const entry = this.#entry(kept);
      if (!match(entry)) continue;
      bytes += JSON.stringify(entry).length;
      if (bytes > this.#maxBytes) break;
      recent.push(entry);
    }
    recent.reverse();
    msg.respond(encodeTailAnswer({ ...this.#sender, dropped: 0, refused, lines: recent }));
  }

  #expire(): void {
    const now = this.#clock();
    for (const [app, lines] of this.#apps) {
      for (const [tailId, tail] of lines.tails) {
        if (tail.expiresAt <= now) {
          lines.tails.delete(tailId);
          this.#tails--;
        }
      }
      if (lines.tails.size === 0) this.#flush(app, lines);
    }
  }
}
