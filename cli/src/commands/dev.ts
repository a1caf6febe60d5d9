/**
 * `flotilla dev`: runs one app on an embedded fleet (shield, scheduler,
 * workers and real isolates in this process), rebuilding and re-publishing
 * it whenever a source file changes.
 *
 * @module
 */
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
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
import { watch } from 'chokidar';
import { booleanOptions, stringOptions } from './option-table.ts';

/**
 * Paths whose changes never trigger a rebuild (React Router's own output,
 * build/ and .react-router/, SvelteKit's .svelte-kit/, Angular's cache,
 * .angular/, Nuxt's .nuxt/ and .output/, and Next's .next/ and
 * next-env.d.ts, too).
 */
const IGNORED =
  /(^|[\\/])(node_modules|\.flotilla|dist|\.git|\.react-router|\.svelte-kit|\.angular|\.nuxt|\.output|\.next)([\\/]|$)|^build([\\/]|$)|^next-env\.d\.ts$/;

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
  const problem = await appDirProblem(dir);
  if (problem) {
    io.stderr(`flotilla dev: ${problem}\n(see flotilla dev --help)\n`);
    return 2;
  }
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
  // One build at a time; a change during one builds once more after it.
  const schedule = (): Promise<boolean> => {
    if (building) {
      again = true;
      return building;
    }
    const run = rebuild().finally(() => {
      building = undefined;
      if (again) {
        again = false;
        void schedule();
      }
    });
    building = run;
    return run;
  };

  // chokidar, not fs.watch: an editor's or `sed -i`'s atomic save replaces
  // the file (a new inode), which fs.watch stops seeing after the first time.
  let timer: NodeJS.Timeout | undefined;
  const watcher = values['no-watch']
    ? undefined
    : watch(dir, {
        ignoreInitial: true,
        atomic: true,
        ignored: (path) => IGNORED.test(relative(dir, path)),
      });
  if (watcher) {
    watcher.on('all', () => {
      clearTimeout(timer);
      timer = setTimeout(schedule, 150);
    });
    watcher.on('error', (err) => log({ level: 'warn', msg: 'file watcher', error: String(err) }));
    // Watching before the first build: a change made while it runs is not lost.
    await once(watcher, 'ready');
  }
  const first = await schedule();
  if (!first && values['no-watch']) {
    await fleet.drain();
    return 1;
  }

  return new Promise<number>((resolveExit) => {
    const stop = (signal: NodeJS.Signals) => {
      log({ msg: `${signal}: draining` });
      void watcher?.close();
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

/** Why `dir` cannot be served (no such directory, no `flotilla.config.json`), or undefined. */
async function appDirProblem(dir: string): Promise<string | undefined> {
  try {
    if (!(await stat(dir)).isDirectory()) return `--dir ${dir} is not a directory`;
  } catch {
    return `--dir ${dir}: no such directory`;
  }
  try {
    await stat(join(dir, 'flotilla.config.json'));
    return undefined;
  } catch {
    return `${dir} has no flotilla.config.json (flotilla init writes one)`;
  }
}
