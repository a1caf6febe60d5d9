import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlPlane } from '@flotilla/deploy';
import { build as buildReact } from '@flotilla/example-react-shop/build';
import { build as buildVue } from '@flotilla/example-vue-shop/build';
import { FlotillaError } from '@flotilla/protocol';

/** The example apps `./run start` serves. */
export const EXAMPLE_APPS = [
  { name: 'react-shop', build: buildReact },
  { name: 'vue-shop', build: buildVue },
] as const;

/**
 * Builds both example apps, publishes them to the control plane and points
 * each app's `production` environment at it when that environment is not
 * set yet (a fleet restart never undoes a promote). Content-addressed: an
 * unchanged app keeps its deployment.
 */
export async function publishExamples(
  controlPlane: ControlPlane,
  log: (line: Record<string, unknown>) => void = () => {},
  /** Origin of the products API when it is not the one the examples declare. */
  apiUrl?: string,
): Promise<string[]> {
  const ids: string[] = [];
  const tmp = await mkdtemp(join(tmpdir(), 'flotilla-examples-'));
  try {
    for (const app of EXAMPLE_APPS) {
      const started = performance.now();
      const built = await app.build({ outDir: join(tmp, app.name) });
      const existing = (await controlPlane.environments(app.name)).find(
        (e) => e.env === 'production',
      );
      const { deployment } = await controlPlane.publish(
        { dir: built.outDir },
        existing ? {} : { env: 'production' },
      );
      ids.push(deployment.id);
      if (apiUrl && built.manifest.backends.api !== apiUrl) {
        await controlPlane.configure(app.name, 'production', { backends: { api: apiUrl } });
      }
      log({
        msg: 'published example',
        app: app.name,
        deployment: deployment.id,
        production: existing ? existing.deploymentId : deployment.id,
        bytes: built.manifest.bundleBytes,
        ms: Math.round(performance.now() - started),
      });
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return ids;
}

/** Processes the examples need (the products API), started with the demo fleet. */
export interface ExampleServices {
  /** Origin of the products API. */
  apiUrl: string;
  /** Stops them (SIGTERM, then waits). */
  close(): Promise<void>;
}

/**
 * Starts the example products API as its own process on `127.0.0.1:port`
 * (the origin the examples declare as backend `api`), and resolves once it
 * is ready.
 */
export async function startExampleServices(options: {
  port: number;
  log?: (line: Record<string, unknown>) => void;
}): Promise<ExampleServices> {
  const log = options.log ?? (() => {});
  const script = fileURLToPath(import.meta.resolve('@flotilla/example-products-api/server'));
  const child = spawn(
    process.execPath,
    [script, '--port', String(options.port), '--exit-with-parent'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  let output = '';
  const apiUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail('did not get ready within 10 s'), 10_000);
    function fail(why: string) {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(
        new FlotillaError(
          'FLOTILLA_ERR_INTERNAL',
          `example products API ${why}${output ? `:\n${output.trim()}` : ''}`,
        ),
      );
    }
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      output += chunk;
    });
    child.stdout.on('data', (chunk: string) => {
      output += chunk;
      const m = /ready on (http:\/\/\S+)/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => fail(`exited with code ${code}`));
  });
  child.stdout.on('data', () => {});
  log({ msg: 'example products API ready', url: apiUrl, apiPid: child.pid });
  return {
    apiUrl,
    async close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
