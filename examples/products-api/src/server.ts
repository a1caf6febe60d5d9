/**
 * The products API as a process of its own:
 *
 * ```sh
 * node examples/products-api/src/server.ts --port 4001 [--host 127.0.0.1]
 * ```
 *
 * Prints one line once it listens, `products-api ready on http://127.0.0.1:4001`,
 * and exits 0 after closing on SIGTERM or SIGINT (or, with `--exit-with-parent`,
 * when its standard input closes: the process that started it is gone). Bad arguments exit 2, a
 * port it cannot listen on exits 1.
 *
 * @module
 */
import { InvalidOptionError } from '@flotilla/protocol';
import { DEFAULT_HOST, DEFAULT_PORT, startProductsApi } from './api.ts';

const USAGE =
  'usage: node examples/products-api/src/server.ts [--port <0-65535>] [--host <address>] [--exit-with-parent]';

/**
 * Parses the command line (`--port 4001`, `--port=4001`, `--host ::1`).
 *
 * @param argv - Arguments after the script path.
 * @returns Options for `startProductsApi`, or `{ help: true }` for `--help`.
 * @throws InvalidOptionError naming the argument at fault.
 */
export function parseServerArgs(
  argv: readonly string[],
): { host: string; port: number; exitWithParent: boolean } | { help: true } {
  let host = DEFAULT_HOST;
  let port = DEFAULT_PORT;
  let exitWithParent = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') return { help: true };
    if (arg === '--exit-with-parent') {
      exitWithParent = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg : arg.slice(0, eq);
    if (name !== '--port' && name !== '--host') {
      throw new InvalidOptionError(
        arg,
        'is not an argument of products-api (--port, --host, --exit-with-parent)',
      );
    }
    let value: string | undefined;
    if (eq === -1) {
      value = argv[i + 1];
      i++;
    } else {
      value = arg.slice(eq + 1);
    }
    if (value === undefined || value === '') {
      throw new InvalidOptionError(name, 'needs a value');
    }
    if (name === '--host') {
      host = value;
    } else {
      if (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65535) {
        throw new InvalidOptionError(
          '--port',
          `must be an integer 0–65535, got ${JSON.stringify(value)}`,
        );
      }
      port = Number(value);
    }
  }
  return { host, port, exitWithParent };
}

async function main(): Promise<void> {
  let options: ReturnType<typeof parseServerArgs>;
  try {
    options = parseServerArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`products-api: ${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if ('help' in options) {
    console.log(USAGE);
    return;
  }
  let api: Awaited<ReturnType<typeof startProductsApi>>;
  try {
    api = await startProductsApi(options);
  } catch (error) {
    console.error((error as Error).message);
    process.exit(1);
  }
  const stop = (signal: NodeJS.Signals) => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    api.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(`products-api: closing on ${signal} failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (options.exitWithParent) {
    process.stdin.on('end', () => stop('SIGTERM'));
    process.stdin.on('error', () => stop('SIGTERM'));
    process.stdin.resume();
  }
  console.log(`products-api ready on ${api.url}`);
}

if (import.meta.main) await main();
