/**
 * `flotilla dev`: runs one app on an embedded fleet (shield, scheduler,
 * workers and real isolates in this process), rebuilding and re-publishing
 * it whenever a source file changes.
 *
 * @module
 */
import { watch } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  createLogger,
  type LogLevel,
  logLevel,
  type RunningFleet,
  startEmbedded,
} from '@flotilla/fleet';
import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import { buildProject } from '@flotilla/sdk/build';
import { booleanOptions, stringOptions } from './option-table.ts';

/**
 * Paths whose changes never trigger a rebuild (React Router's own output,
 * build/ and .react-router/, and Nuxt's, .nuxt/ and .output/, too).
 */
const IGNORED =
  /(^|[\\/])(node_modules|\.flotilla|dist|\.git|\.react-router|\.nuxt|\.output)([\\/]|$)|^build([\\/]|$)/;

/** Runs `flotilla dev`; resolves with the exit code once drained. */
export async function runDev(
  args: string[],
  io: { stdout: (t: string) => void; stderr: (t: string) => void },
): Promise<number> {
  let values: {
    dir?: string;
    port?: string;
    cache?: string;
    'no-watch'?: boolean;
    'log-format'?: string;
    'log-level'?: string;
  };
  let level: LogLevel;
  try {
    values = parseArgs({
      args,
      strict: true,
      options: {
        ...stringOptions('dir', 'port', 'cache', 'log-format', 'log-level'),
        ...booleanOptions('no-watch'),
      },
    }).values;
    if (values.cache !== undefined && values.cache !== 'on' && values.cache !== 'off') {
      throw new InvalidOptionError('--cache', `must be on or off, got "${values.cache}"`);
    }
    if (values.port !== undefined && !/^\d+$/.test(values.port)) {
      throw new InvalidOptionError('--port', `must be a port number, got "${values.port}"`);
    }
    level = logLevel('--log-level', values['log-level']);
  } catch (err) {
    io.stderr(`flotilla dev: ${(err as Error).message}\n(see flotilla dev --help)\n`);
    return 2;
  }
  const dir = resolve(values.dir ?? '.');
  const log = createLogger({
    role: 'dev',
    format: values['log-format'] === 'json' ? 'json' : 'text',
    level,
  });
  let fleet: RunningFleet;
  try {
    fleet = await startEmbedded({
      port: Number(values.port ?? 3000),
      // Off by default: every change shows at once. On: the routes' cache
      // options apply as in production (each publish starts a new namespace).
      ...(values.cache === 'on' ? {} : { cache: false as const }),
      log,
    });
  } catch (err) {
    io.stderr(`flotilla dev: could not start the embedded fleet: ${(err as Error).message}\n`);
    return 1;
  }
  const controlPlane = fleet.controlPlane;
  if (!controlPlane) throw new Error('embedded fleet without a control plane');

  let building: Promise<boolean> | undefined;
  let again = false;
  const rebuild = async (): Promise<boolean> => {
    const started = performance.now();
    try {
      const built = await buildProject({ dir });
      const { deployment } = await controlPlane.publish(
        { dir: built.outDir },
        { env: 'production' },
      );
      io.stdout(
        `flotilla dev: ${deployment.app} ${deployment.id} serving at ${fleet.url}/${deployment.app}/ ` +
          `(${Math.round(performance.now() - started)} ms)\n`,
      );
      return true;
    } catch (err) {
      const code = err instanceof FlotillaError ? `${err.code}: ` : '';
      io.stderr(
        `flotilla dev: build failed, the last good build keeps serving\n${code}${(err as Error).message}\n`,
      );
      return false;
    }
  };
  const schedule = () => {
    if (building) {
      again = true;
      return;
    }
    building = rebuild().finally(() => {
      building = undefined;
      if (again) {
        again = false;
        schedule();
      }
    });
  };

  const first = await rebuild();
  if (!first && values['no-watch']) {
    await fleet.drain();
    return 1;
  }
  let timer: NodeJS.Timeout | undefined;
  const watcher = values['no-watch']
    ? undefined
    : watch(dir, { recursive: true }, (_event, file) => {
        if (file && IGNORED.test(String(file))) return;
        clearTimeout(timer);
        timer = setTimeout(schedule, 150);
      });

  return new Promise<number>((resolveExit) => {
    const stop = (signal: NodeJS.Signals) => {
      log({ msg: `${signal}: draining` });
      watcher?.close();
      clearTimeout(timer);
      Promise.resolve(building)
        .then(() => fleet.drain())
        .then(
          () => resolveExit(0),
          () => resolveExit(1),
        );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
