/**
 * `flotilla logs`: the access lines of every shield and the console lines
 * of the app on every worker, over NATS (see `@flotilla/protocol`'s
 * `log-tail.ts`): recent lines, then with `--follow` new ones until Ctrl-C.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import {
  decodeTailAnswer,
  encodeTailRequest,
  FlotillaError,
  InvalidOptionError,
  type LogEntry,
  logLinesSubject,
  logTailSubject,
  MAX_RECENT_LINES,
  type TailAnswer,
  type TailFilter,
  TailFilterSchema,
  tailMatcher,
} from '@flotilla/protocol';
import { problemOf } from '@flotilla/protocol/schema';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  appName,
  type ControlCommand,
  type Ctx,
  EXIT,
  msOption,
  progress,
  str,
  token,
} from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { booleanOptions, stringOptions } from './option-table.ts';

/** How long a follow's lease lasts; it is renewed three times as often. */
const LEASE_MS = 15_000;

/** A comma-separated option's values (`--status 5xx,404`). */
function csv(ctx: Ctx, name: string): string[] | undefined {
  const raw = str(ctx.values, name);
  if (raw === undefined) return undefined;
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The filter the command line asks for, checked before connecting. */
function tailFilter(ctx: Ctx): TailFilter {
  const env = token('--env', str(ctx.values, 'env'));
  const filter = {
    ...(env ? { environment: env } : {}),
    ...(str(ctx.values, 'source') !== undefined ? { source: str(ctx.values, 'source') } : {}),
    ...(csv(ctx, 'status') ? { status: csv(ctx, 'status') } : {}),
    ...(str(ctx.values, 'path') !== undefined ? { path: str(ctx.values, 'path') } : {}),
    ...(csv(ctx, 'cache') ? { cache: csv(ctx, 'cache') } : {}),
  };
  const problem = problemOf(TailFilterSchema, filter);
  if (problem !== undefined) {
    const [field = '', ...rest] = problem.split(' ');
    const option = field.replace(/\[\d+\]$/, '').replace('environment', 'env');
    throw new InvalidOptionError(`--${option}`, rest.join(' '));
  }
  return filter as TailFilter;
}

/** `--lines`: recent lines per process. */
function recentLines(ctx: Ctx): number {
  const raw = str(ctx.values, 'lines');
  if (raw === undefined) return 100;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > MAX_RECENT_LINES) {
    throw new InvalidOptionError(
      '--lines',
      `must be a whole number 0-${MAX_RECENT_LINES}, got "${raw}"`,
    );
  }
  return n;
}

/** One line as printed: readable, or the line as JSON (with the sender's id and region). */
function format(ctx: Ctx, entry: LogEntry, from: TailAnswer): string {
  if (ctx.json) return `${JSON.stringify({ ...entry, id: from.id, region: from.region })}\n`;
  const who = `${from.role}/${from.id}`;
  const env = typeof entry.environment === 'string' ? ` [${entry.environment}]` : '';
  if (entry.source === 'app') {
    const level = String(entry.level ?? 'info').toUpperCase();
    return `${entry.time} ${who} ${level.padEnd(5)} ${String(entry.msg ?? '')}${env}\n`;
  }
  const query = typeof entry.query === 'string' ? `?${entry.query}` : '';
  const error = typeof entry.error === 'string' ? ` ${entry.error}` : '';
  return (
    `${entry.time} ${who} ${String(entry.status)} ${String(entry.method)} ${String(entry.path)}${query}` +
    ` ${String(entry.cache)} ${String(entry.ms)}ms${error}${env}\n`
  );
}

/** Reports lines a process left out (its rate limit). */
function reportDropped(ctx: Ctx, from: TailAnswer): void {
  if (from.dropped > 0) {
    ctx.io.stderr(
      `flotilla logs: ${from.role}/${from.id} left out ${from.dropped} line(s) (rate limit)\n`,
    );
  }
}

/** The sender's lines that pass `match`, each with its sender. */
function linesOf(answer: TailAnswer, match: (line: LogEntry) => boolean) {
  return answer.lines.filter(match).map((entry) => ({ entry, from: answer }));
}

/** Resolves at the first SIGINT or SIGTERM (Ctrl-C), or when the connection closes. */
function interrupted(nc: NatsConnection): Promise<'signal' | 'closed'> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve('signal');
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    void nc.closed().then(() => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve('closed');
    });
  });
}

async function logs(
  ctx: Ctx,
  nc: NatsConnection,
  app: string,
  filter: TailFilter,
): Promise<number> {
  const follow = ctx.values.follow === true;
  const waitMs = msOption(ctx, 'wait-ms', 1000);
  const recent = recentLines(ctx);
  const match = tailMatcher(filter);
  const tailId = randomBytes(8).toString('hex');
  const request = (leaseMs: number, lines: number) =>
    encodeTailRequest({ tailId, filter, leaseMs, recent: lines });
  // Subscribed before asking, so that no line falls between the recent ones and the new ones.
  const live: { entry: LogEntry; from: TailAnswer }[] = [];
  let printing = false;
  const sub = follow
    ? nc.subscribe(logLinesSubject(app), {
        callback: (err, msg) => {
          if (err) return;
          let batch: TailAnswer;
          try {
            batch = decodeTailAnswer(msg.data);
          } catch {
            return;
          }
          reportDropped(ctx, batch);
          const lines = linesOf(batch, match);
          if (printing) for (const l of lines) ctx.io.stdout(format(ctx, l.entry, l.from));
          else live.push(...lines);
        },
      })
    : undefined;
  const answers: TailAnswer[] = [];
  const replies = await nc.requestMany(
    logTailSubject(app),
    request(follow ? LEASE_MS : 0, recent),
    { strategy: 'timer', maxWait: waitMs },
  );
  for await (const msg of replies) {
    try {
      answers.push(decodeTailAnswer(msg.data));
    } catch {
      // not an answer (e.g. a no-responders status): left out
    }
  }
  if (answers.length === 0) {
    sub?.unsubscribe();
    throw new FlotillaError(
      'FLOTILLA_ERR_NOT_FOUND',
      `no shield or worker answered within ${waitMs} ms: is the fleet running? (--wait-ms to wait longer)`,
    );
  }
  const shown = new Set<string>();
  const earlier = answers
    .flatMap((a) => linesOf(a, match))
    .sort((a, b) => (a.entry.time < b.entry.time ? -1 : a.entry.time > b.entry.time ? 1 : 0));
  for (const l of earlier) {
    shown.add(`${l.from.id} ${JSON.stringify(l.entry)}`);
    ctx.io.stdout(format(ctx, l.entry, l.from));
  }
  if (!follow) return EXIT.ok;
  for (const a of answers.filter((x) => x.refused)) {
    ctx.io.stderr(
      `flotilla logs: ${a.role}/${a.id} follows as many tails as it may: its new lines will not show\n`,
    );
  }
  const shields = answers.filter((a) => a.role === 'shield').length;
  progress(
    ctx,
    `flotilla logs: following ${app} on ${shields} shield(s) and ${answers.length - shields} worker(s); Ctrl-C to stop`,
  );
  // A line recorded while the request was answered may be in an answer and a batch.
  for (const l of live) {
    if (!shown.has(`${l.from.id} ${JSON.stringify(l.entry)}`)) {
      ctx.io.stdout(format(ctx, l.entry, l.from));
    }
  }
  live.length = 0;
  printing = true;
  // Renewed well before it ends; a process that started since joins at the next renewal.
  const renew = setInterval(
    () => nc.publish(logTailSubject(app), request(LEASE_MS, 0)),
    LEASE_MS / 3,
  );
  try {
    const why = await interrupted(nc);
    if (why === 'closed') {
      throw new FlotillaError('FLOTILLA_ERR_TRANSPORT_CLOSED', 'lost the connection to the fleet');
    }
  } finally {
    clearInterval(renew);
  }
  // Ends the lease now rather than when it runs out.
  sub?.unsubscribe();
  nc.publish(logTailSubject(app), request(0, 0));
  await nc.flush().catch(() => {});
  return EXIT.ok;
}

/** `flotilla logs`, for the command table. */
export const logsCommand: ControlCommand = {
  name: 'logs',
  usage: `  flotilla logs [--app <name>] [--env <name>] [--follow] [--status <s>] [--path <p>] [--cache <c>] [--source access|app]
      the app's access lines from every shield and its console lines (with their level) from every
      worker: the recent ones, then with --follow new ones as they happen, until Ctrl-C. Filters:
      --status 5xx,404 (classes or exact), --path /p/ (a prefix) or '/p/*' (a glob, ** across /),
      --cache hit,miss (these three keep access lines only), --source access|app; --json: JSON lines
      [--lines <n>] recent lines asked of each process (default 100, at most ${MAX_RECENT_LINES})
      [--wait-ms <n>] how long the shields and workers may take to answer (default 1000)
`,
  options: {
    ...stringOptions('status', 'path', 'cache', 'source', 'lines', 'wait-ms'),
    ...booleanOptions('follow'),
  },
  async run(ctx) {
    if (ctx.positionals.length > 0) {
      throw new InvalidOptionError(
        'logs',
        `takes no arguments, got "${ctx.positionals.join(' ')}"`,
      );
    }
    const filter = tailFilter(ctx);
    recentLines(ctx);
    msOption(ctx, 'wait-ms', 1000);
    const app = await appName(ctx);
    return withFleet(ctx, async (cp, nc) => {
      // An unknown app (or one the credential may not read) fails here, not with silence.
      const envs = await cp.environments(app);
      if (envs.length === 0) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `app "${app}" has no environments on this fleet (flotilla publish --app ${app} --env production)`,
        );
      }
      if (filter.environment !== undefined && !envs.some((e) => e.env === filter.environment)) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NOT_FOUND',
          `app "${app}" has no environment "${filter.environment}" (flotilla envs --app ${app})`,
        );
      }
      return logs(ctx, nc, app, filter);
    });
  },
};
