/**
 * What `./run start` runs: `flotilla start` (the embedded fleet) with the
 * example apps. Production code never publishes them: only this package
 * depends on the example packages.
 *
 * @module
 */
import { runStart, START_USAGE } from '@flotilla/cli';
import type { EmbeddedSeed } from '@flotilla/fleet';
import { InvalidOptionError } from '@flotilla/protocol';
import { publishExamples, startExampleServices } from './examples.ts';

/** What `./run start --help` prints before the `flotilla start` options. */
export const DEMO_USAGE = `Usage: ./run start [--api-port <n>] [--no-examples] [flotilla start options]

Starts the embedded fleet (flotilla start without --nats) with the example
apps: builds react-shop and vue-shop, starts the example products API they
fetch from (its own process), publishes both apps to the in-memory control
plane, points their production environments at them, and serves them:
  http://127.0.0.1:3000/react-shop/   or  http://react-shop.localhost:3000/
  http://127.0.0.1:3000/vue-shop/     or  http://vue-shop.localhost:3000/
Ctrl-C or SIGTERM drains the fleet, then stops the products API.

Options:
  --api-port <n>        port of the example products API (default: 4001, or a free port when taken)
  --no-examples         the embedded fleet alone: no example apps, no products API

`;

/** Options of {@link demoSeed}. */
export interface DemoOptions {
  /**
   * Port of the example products API. Left out, 4001 is tried first and a
   * free port is used when it is taken (the apps' environments are pointed
   * at it).
   * @default 4001, else any free port
   */
  apiPort?: number;
}

/**
 * Seeds an embedded fleet with the demo: starts the example products API
 * (closed after the fleet drained), then builds and publishes both example
 * apps and points their `production` environments at them.
 */
export function demoSeed(options: DemoOptions = {}): EmbeddedSeed {
  return async (controlPlane, log) => {
    const services = await startExampleServices({ port: options.apiPort ?? 4001, log }).catch(
      (err: unknown) => {
        // The default port is taken (another fleet?): any free port will do,
        // the examples' environments are pointed at wherever it listens.
        if (options.apiPort !== undefined) throw err;
        log({
          msg: 'products API port 4001 is taken, using a free port',
          error: (err as Error).message,
        });
        return startExampleServices({ port: 0, log });
      },
    );
    try {
      await publishExamples(controlPlane, log, services.apiUrl);
    } catch (err) {
      await services.close();
      throw err;
    }
    return services;
  };
}

/** `./run start` arguments: the demo's own, and the rest for `flotilla start`. */
export interface DemoArgs {
  /** Publish the example apps (false with `--no-examples`). */
  examples: boolean;
  /** `--api-port`. */
  apiPort: number | undefined;
  /** The arguments for `flotilla start`. */
  startArgs: string[];
}

/** Splits `./run start` arguments. @throws InvalidOptionError naming a bad `--api-port` */
export function parseDemoArgs(args: readonly string[]): DemoArgs {
  let examples = true;
  let apiPort: number | undefined;
  const startArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--no-examples') {
      examples = false;
    } else if (arg === '--api-port' || arg.startsWith('--api-port=')) {
      const raw = arg === '--api-port' ? args[++i] : arg.slice('--api-port='.length);
      const port = Number(raw);
      if (raw === undefined || raw === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
        throw new InvalidOptionError('--api-port', `must be a port number, got "${raw ?? ''}"`);
      }
      apiPort = port;
    } else {
      startArgs.push(arg);
    }
  }
  return { examples, apiPort, startArgs };
}

/** What the demo prints under the fleet's ready line. */
function tryLines(url: string, adminUrl: string): string {
  return (
    `  try: curl -s ${url}/react-shop/ | head -c 300\n` +
    `       curl -s ${url}/vue-shop/p/7 | head -c 300\n` +
    `       curl -s ${adminUrl}/              # the apps served (admin listener)\n` +
    `       curl -s ${adminUrl}/metrics | grep flotilla_\n`
  );
}

/** Runs `./run start`; resolves with the exit code once drained (as `flotilla start`). */
export async function runDemo(
  argv: readonly string[],
  io: { stdout: (text: string) => void; stderr: (text: string) => void },
): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    io.stdout(`${DEMO_USAGE}flotilla start options:\n\n${START_USAGE}`);
    return 0;
  }
  let args: DemoArgs;
  try {
    args = parseDemoArgs(argv);
  } catch (err) {
    io.stderr(`flotilla: ${(err as Error).message}\n(see ./run start --help)\n`);
    return 2;
  }
  return runStart(
    args.startArgs,
    io,
    args.examples
      ? {
          seed: demoSeed(args.apiPort === undefined ? {} : { apiPort: args.apiPort }),
          readyHint: tryLines,
        }
      : {},
  );
}
