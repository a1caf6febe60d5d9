/**
 * Setup the framework connector tests share: a scratch directory inside the
 * example app (so that its `node_modules` resolve) holding copies of the app,
 * a products API on 127.0.0.1 for the bundles to fetch from, and a build
 * expected to fail. Test-only; not part of the SDK.
 */

import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type BuildProjectOptions, buildProject } from '../build.ts';
import { BuildError } from '../build-errors.ts';

/** Copies of one example app in a scratch directory inside it. */
export interface ExampleCopies {
  /**
   * A copy of the example app (its `files`: what a developer writes) under
   * the scratch directory, with `files` written over it.
   */
  app(name: string, files?: Record<string, string>): Promise<string>;
  /** Removes the scratch directory. */
  remove(): Promise<void>;
}

/** A scratch directory in `<example>/.flotilla/` for copies of the app's `appFiles`. */
export async function exampleCopies(example: string, appFiles: string[]): Promise<ExampleCopies> {
  await mkdir(join(example, '.flotilla'), { recursive: true });
  const root = await mkdtemp(join(example, '.flotilla', 'connector-test-'));
  return {
    async app(name, files = {}) {
      const dir = join(root, name);
      for (const file of appFiles) {
        await cp(join(example, file), join(dir, file), { recursive: true });
      }
      for (const [rel, text] of Object.entries(files)) {
        await mkdir(join(dir, rel, '..'), { recursive: true });
        await writeFile(join(dir, rel), text);
      }
      return dir;
    },
    remove: () => rm(root, { recursive: true, force: true }),
  };
}

/** A products API on 127.0.0.1: `/products` (three products) and `/products/<id>`. */
export interface TestProductsApi {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Requests it answered so far. */
  hits(): number;
  close(): Promise<void>;
}

export async function startTestProductsApi(): Promise<TestProductsApi> {
  let hits = 0;
  const api = createServer((req, res) => {
    hits++;
    const id = /^\/products\/(\d+)$/.exec(req.url ?? '')?.[1];
    const product = (n: number) => ({
      id: n,
      name: `Product ${n}`,
      priceCents: 100 * n,
      description: `About product ${n}`,
      rating: 4.5,
      reviewCount: n,
      tags: [],
      category: 'test',
    });
    res.setHeader('content-type', 'application/json');
    if (id !== undefined) res.end(JSON.stringify(product(Number(id))));
    else if (req.url?.startsWith('/products')) res.end(JSON.stringify([1, 2, 3].map(product)));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
    hits: () => hits,
    close: () => new Promise<void>((r) => api.close(() => r())),
  };
}

/** The `FLOTILLA_ERR_BUILD` error `buildProject(options)` fails with (the test fails when it does not). */
export async function expectBuildError(options: BuildProjectOptions): Promise<BuildError> {
  const error = await buildProject(options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BuildError);
  expect((error as BuildError).code).toBe('FLOTILLA_ERR_BUILD');
  return error as BuildError;
}
