/**
 * The fleet's one logger (pino). Every line of a fleet process, its own and
 * the bundles' `console.*` lines, has one shape:
 *
 * ```json
 * {"level":"info","time":"2025-06-01T12:00:00.000Z","role":"worker","region":"us-east","msg":"worker started","worker":"w-1a2b3c4d"}
 * {"level":"warn","time":"…","role":"worker","region":"us-east","source":"app","worker":"w-1a2b3c4d","deployment":"react-shop-95d0bbaecb91","requestId":"…","traceId":"4bf92f35…","msg":"slow backend"}
 * ```
 *
 * `--log-format json` writes these lines; `text` (the default) writes the
 * same fields as readable text (pino-pretty, colours on a TTY). Both write
 * synchronously to stderr from the thread that logs: no transport thread.
 *
 * The packages below the fleet (shield, scheduler, workers, autoscaler,
 * deploy) stay logger-agnostic: they take a `log(line)` collaborator, and
 * {@link createLogger} is that collaborator. A line is `{ msg, level?, …fields }`;
 * `level` is one of {@link LOG_LEVELS} (default `info`).
 *
 * @module
 */
import { isatty } from 'node:tty';
import { InvalidOptionError, type LogFn } from '@flotilla/protocol';
import { type DestinationStream, type Level, pino } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { type LimitedLog, limitRepeats, type RepeatLimit } from './log-repeats.ts';

/** The log line and the `log` option every component takes (defined in `@flotilla/protocol`). */
export type { LogFn, LogLine } from '@flotilla/protocol';

/** The output formats of `--log-format`. */
export const LOG_FORMATS = ['text', 'json'] as const;
/** An output format: readable text or JSON lines. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The levels of `--log-level`, most verbose first; `silent` writes nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
/** A minimum level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** What the process is, on every line: `fleet`, `shield`, `scheduler`, `worker`, `dev`. */
  role: string;
  /** Region, on every line when given. @default none */
  region?: string;
  /** @default 'text' */
  format?: LogFormat;
  /** Lines below this level are dropped. @default 'info' */
  level?: LogLevel;
  /**
   * Where lines go: a file descriptor (written synchronously) or a stream.
   * @default 2 (stderr)
   */
  destination?: number | { write(text: string): unknown };
  /** Colours in the text format. @default true when the destination is a TTY */
  colorize?: boolean;
  /**
   * Repeated lines (same level and message) past a burst are counted, not
   * written (see `log-repeats.ts`); `false` writes every line (an access
   * log). @default 10 per 10 s
   */
  repeats?: RepeatLimit | false;
}

const LEVELS = new Set<string>(LOG_LEVELS);

/** Checks a `--log-format` value. @throws InvalidOptionError naming `option` */
export function logFormat(option: string, value: string | undefined): LogFormat {
  if (value === undefined) return 'text';
  if (value !== 'text' && value !== 'json') {
    throw new InvalidOptionError(option, `must be text or json, got "${value}"`);
  }
  return value;
}

/** Checks a `--log-level` value. @throws InvalidOptionError naming `option` */
export function logLevel(option: string, value: string | undefined): LogLevel {
  if (value === undefined) return 'info';
  if (!LEVELS.has(value)) {
    throw new InvalidOptionError(option, `must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
  }
  return value as LogLevel;
}

function sink(options: LoggerOptions): DestinationStream {
  const dest = options.destination ?? 2;
  const out: DestinationStream =
    typeof dest === 'number'
      ? pino.destination({ dest, sync: true })
      : { write: (t) => dest.write(t) };
  if ((options.format ?? 'text') === 'json') return out;
  const pretty = prettyFactory({
    colorize: options.colorize ?? (typeof dest === 'number' && isatty(dest)),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'role,region',
    // Every field on the line (an `error` string too), never one per line.
    errorLikeObjectKeys: [],
    messageFormat: '[{role}] {msg}',
    singleLine: true,
  });
  return { write: (line: string) => out.write(pretty(line)) };
}

/**
 * The logger of a fleet process, as a `log(line)` function.
 *
 * @example
 * const log = createLogger({ role: 'worker', region: 'us-east', format: 'json' });
 * log({ msg: 'worker started', worker: 'w-1' });
 * log({ level: 'warn', msg: 'slow backend', source: 'app', deployment, requestId, traceId });
 */
export function createLogger(options: LoggerOptions): LogFn {
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { role: options.role, ...(options.region ? { region: options.region } : {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    sink(options),
  );
  const write: LogFn = (line) => {
    const { msg, level, ...fields } = line;
    const at: Level =
      typeof level === 'string' && LEVELS.has(level) && level !== 'silent'
        ? (level as Level)
        : 'info';
    logger[at](fields, typeof msg === 'string' ? msg : String(msg ?? ''));
  };
  if (options.repeats === false) return write;
  const limited = limitRepeats(write, options.repeats);
  const sweep = setInterval(() => limited.sweep(), options.repeats?.windowMs ?? 10_000);
  sweep.unref();
  atExit(limited);
  return limited.log;
}

/** The loggers whose pending counts are written when the process exits. */
const pending = new Set<LimitedLog>();

function atExit(limited: LimitedLog): void {
  if (pending.size === 0)
    process.once('exit', () => {
      for (const l of pending) l.flush();
    });
  pending.add(limited);
}
