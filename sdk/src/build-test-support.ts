/**
 * Helpers for the build tests: temporary projects and evaluating a bundle
 * the way the isolate does. Test-only.
 *
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { runInNewContext } from 'node:vm';

/** The checked-in fixture projects. */
export const FIXTURES = join(import.meta.dirname, '..', 'test-fixtures');

/** A scratch directory removed by {@link Scratch.cleanup}. */
export interface Scratch {
  dir: string;
  /** Writes `files` (relative path → contents; objects are written as JSON) under `<dir>/<name>`. */
  project(name: string, files: Record<string, string | object>): Promise<string>;
  /** Copies a fixture project to `<dir>/<name>`. */
  fixture(fixture: string, name?: string): Promise<string>;
  cleanup(): Promise<void>;
}

export async function scratch(): Promise<Scratch> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-build-'));
  return {
    dir,
    async project(name, files) {
      const root = join(dir, name);
      for (const [rel, contents] of Object.entries(files)) {
        const file = join(root, rel);
        await mkdir(dirname(file), { recursive: true });
        await writeFile(
          file,
          typeof contents === 'string' ? contents : `${JSON.stringify(contents, null, 2)}\n`,
        );
      }
      await mkdir(root, { recursive: true });
      return root;
    },
    async fixture(fixture, name = fixture) {
      const root = join(dir, name);
      await cp(join(FIXTURES, fixture), root, { recursive: true });
      return root;
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A served handler: a function or an object with `fetch`. */
export type Served =
  | ((request: Request) => Response | Promise<Response>)
  | { fetch(request: Request): Response | Promise<Response> };

/** Evaluates a bundle in a fresh V8 context with the isolate's web globals; returns what it served. */
export function evaluateBundle(code: string): Served {
  const served: Served[] = [];
  runInNewContext(code, {
    Flotilla: { serve: (handler: Served) => served.push(handler), AsyncLocalStorage },
    Request,
    Response,
    Headers,
    URL,
    URLSearchParams,
    TextEncoder,
    TextDecoder,
    structuredClone,
  });
  const handler = served[0];
  if (served.length !== 1 || handler === undefined) {
    throw new Error(`bundle served ${served.length} handlers`);
  }
  return handler;
}

/** Calls a served handler. */
export async function call(handler: Served, url: string, init?: RequestInit): Promise<Response> {
  const request = new Request(url, init);
  return typeof handler === 'function' ? handler(request) : handler.fetch(request);
}
