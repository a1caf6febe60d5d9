/**
 * Runs a Next.js app's own build (`next build`, from the project's
 * `node_modules/.bin`) for `flotilla build`, with Flotilla's adapter on
 * Next's Adapters API (`NEXT_ADAPTER_PATH`: the app's `next.config` stays as
 * it is). The adapter's `onBuildComplete` writes what Next built (outputs,
 * routing table, build id) to a report this module reads back.
 *
 * Node-only.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import type { BuildProgress } from '../build.ts';
import { buildFailure } from '../build-errors.ts';
import { displayPath } from '../project-config.ts';

/** One output of the Adapters API (the fields Flotilla reads). */
export interface NextOutput {
  type: string;
  id: string;
  pathname: string;
  runtime?: 'nodejs' | 'edge';
  filePath?: string;
  /** Files the output needs, relative to the dist directory → absolute path, in load order. */
  assets?: Record<string, string>;
  edgeRuntime?: { modulePath: string; entryKey: string; handlerExport: string };
  config?: {
    env?: Record<string, string>;
    matchers?: { regexp?: string; sourceRegex?: string; originalSource?: string }[];
  };
  /** Prerenders: the page it belongs to. */
  parentOutputId?: string;
  fallback?: {
    filePath?: string;
    initialStatus?: number;
    initialHeaders?: Record<string, string | string[]>;
    initialRevalidate?: number | false;
    postponedState?: string;
  };
}

/** A route of Next's routing table. */
export interface NextRoutingRoute {
  source?: string;
  sourceRegex: string;
  destination?: string;
  headers?: Record<string, string>;
  status?: number;
}

/** What the adapter reports. */
export interface NextBuildReport {
  nextVersion: string;
  buildId: string;
  /** Absolute `.next` directory. */
  distDir: string;
  projectDir: string;
  outputs: {
    pages: NextOutput[];
    pagesApi: NextOutput[];
    appPages: NextOutput[];
    appRoutes: NextOutput[];
    prerenders: NextOutput[];
    staticFiles: NextOutput[];
    middleware?: NextOutput;
  };
  routing: {
    beforeMiddleware: NextRoutingRoute[];
    beforeFiles: NextRoutingRoute[];
    afterFiles: NextRoutingRoute[];
    dynamicRoutes: NextRoutingRoute[];
    onMatch: NextRoutingRoute[];
    fallback: NextRoutingRoute[];
    rsc: {
      header: string;
      varyHeader: string;
      suffix: string;
      prefetchSegmentHeader: string;
      prefetchSegmentSuffix: string;
      prefetchSegmentDirSuffix: string;
    };
  };
  /** `expireTime` of the Next config, seconds. */
  expireTime: number;
  /** `images.unoptimized` of the Next config. */
  imagesUnoptimized: boolean;
}

/** The environment variable the adapter writes its report to. */
const REPORT_ENV = 'FLOTILLA_NEXT_REPORT';

/** Lines of Next's output a failure message repeats. */
const TAIL_LINES = 40;

/** Flotilla's adapter (plain ESM, loaded by `next build`). */
const ADAPTER = `// Written by flotilla build for one run of next build; not part of the app.
import { writeFileSync } from 'node:fs';

const plain = (_key, value) => (value instanceof Map ? Object.fromEntries(value) : value);

export default {
  name: 'flotilla',
  async onBuildComplete(ctx) {
    const report = {
      nextVersion: ctx.nextVersion,
      buildId: ctx.buildId,
      distDir: ctx.distDir,
      projectDir: ctx.projectDir,
      outputs: ctx.outputs,
      routing: ctx.routing,
      expireTime: ctx.config.expireTime,
      imagesUnoptimized: Boolean(ctx.config.images && ctx.config.images.unoptimized),
    };
    writeFileSync(process.env.${REPORT_ENV}, JSON.stringify(report, plain));
  },
};
`;

/** `<dir or a parent>/node_modules/.bin/next`, as npm and pnpm install it. */
async function findCli(dir: string): Promise<string | undefined> {
  for (let at = dir; ; at = dirname(at)) {
    const bin = join(at, 'node_modules', '.bin', 'next');
    if ((await stat(bin).catch(() => undefined))?.isFile()) return bin;
    if (dirname(at) === at) return undefined;
  }
}

/** Options of {@link runNextBuild}. */
export interface RunNextBuildOptions {
  /** App name, for error messages. */
  app: string;
  /** Absolute project directory. */
  dir: string;
  /** Absolute directory for this build's own files (the adapter, the report). */
  work: string;
  progress: (progress: BuildProgress) => void;
}

/**
 * Runs `next build` in `dir` with Flotilla's adapter (its output lines go
 * to `progress`, phase `framework`) and returns the adapter's report.
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when Next's CLI is missing or the
 * build fails (with the end of its output).
 */
export async function runNextBuild(options: RunNextBuildOptions): Promise<NextBuildReport> {
  const { app, dir, work, progress } = options;
  const cli = await findCli(dir);
  if (cli === undefined) {
    throw buildFailure(
      app,
      `framework "next" needs Next.js's CLI, and ${displayPath(join(dir, 'node_modules', '.bin', 'next'))} does not exist: ` +
        'install the app\'s dependencies (npm install; "next" among its dependencies)',
    );
  }
  const adapter = join(work, 'adapter.mjs');
  const reportFile = join(work, 'report.json');
  await writeFile(adapter, ADAPTER);

  progress({ phase: 'framework', detail: `next build (${displayPath(cli)})` });
  const tail: string[] = [];
  const code = await new Promise<number | string>((resolveExit) => {
    const child = spawn(cli, ['build'], {
      cwd: dir,
      // The Node running flotilla runs Next too (the .bin shim calls `node`).
      env: {
        ...process.env,
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
        NODE_ENV: 'production',
        NEXT_TELEMETRY_DISABLED: '1',
        NEXT_ADAPTER_PATH: adapter,
        [REPORT_ENV]: reportFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onLines = (chunk: Buffer) => {
      for (const raw of chunk.toString('utf8').split(/\r?\n/)) {
        // biome-ignore lint/suspicious/noControlCharactersInRegex: strips terminal colours
        const line = raw.replace(/\u001b\[[0-9;]*m/g, '').trimEnd();
        if (line === '') continue;
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        progress({ phase: 'framework', detail: line });
      }
    };
    child.stdout.on('data', onLines);
    child.stderr.on('data', onLines);
    child.on('error', (error) => resolveExit(error.message));
    child.on('close', (exit, signal) => resolveExit(exit ?? `killed by ${signal}`));
  });
  if (code !== 0) {
    const fonts = tail.some((line) => line.includes('Failed to fetch') && line.includes('Google'))
      ? ' (next/font/google downloads fonts while building: without access to Google Fonts, use next/font/local)'
      : '';
    throw buildFailure(
      app,
      `next build failed (${typeof code === 'number' ? `exit code ${code}` : code})${fonts}:\n${tail.join('\n')}`,
    );
  }
  try {
    return JSON.parse(await readFile(reportFile, 'utf8')) as NextBuildReport;
  } catch (error) {
    throw buildFailure(
      app,
      `next build succeeded but did not run flotilla's adapter (${(error as Error).message}): ` +
        'Flotilla needs a Next.js with the Adapters API (16.x; tried with 16.4.3); does next.config set adapterPath itself?',
      error,
    );
  }
}
