/**
 * Helpers for the runtime's tests: load inline bundles, render, read bodies.
 * Not exported from the package.
 */
import { createHash } from 'node:crypto';
import { transformSync } from 'esbuild';
import { expect } from 'vitest';
import type { SandboxRequest } from './marshal.ts';
import { DeploymentIsolate, type LoadOptions } from './sandbox.ts';

/** A bundle answering every request with a small 201 HTML page. */
export const HELLO = `Flotilla.serve(() => new Response('<h1>Hello</h1>', {
  status: 201,
  headers: { 'content-type': 'text/html; charset=utf-8', 'x-app': 'shop' },
}));`;

/**
 * `code` with its async functions, async generators and `for await` lowered
 * to generators over promises, as `flotilla build` lowers a bundle that
 * imports `node:async_hooks` (`ASYNC_CONTEXT_LOWERING` of `@flotilla/sdk/build`):
 * the awaits then carry the AsyncLocalStorage context.
 */
export function lowerAsync(code: string): string {
  return transformSync(code, {
    target: 'es2022',
    supported: { 'async-await': false, 'async-generator': false, 'for-await': false },
  }).code;
}

/** sha256 of a bundle, as the manifest's `bundleHash`. */
export function hashOf(code: string): string {
  return createHash('sha256').update(code).digest('hex');
}

/** Isolates loaded by {@link loadBundle}; dispose them in `afterEach` with {@link disposeLoaded}. */
const loaded = new Set<DeploymentIsolate>();

export async function loadBundle(
  code: string,
  options: Partial<Omit<LoadOptions, 'code'>> = {},
): Promise<DeploymentIsolate> {
  const iso = await DeploymentIsolate.load({
    deploymentId: 'd-test',
    bundleHash: hashOf(code),
    ...options,
    code,
  });
  loaded.add(iso);
  return iso;
}

export function disposeLoaded(): void {
  for (const iso of loaded) iso.dispose();
  loaded.clear();
}

/** A GET of `url` unless `init` says otherwise. */
export function request(
  url = 'http://shop.test/',
  init: Partial<SandboxRequest> = {},
): SandboxRequest {
  return { method: 'GET', url, headers: [], body: null, ...init };
}

export function text(body: Uint8Array): string {
  return new TextDecoder().decode(body);
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/**
 * A bundle that runs the request body as an async function body and answers
 * with its JSON (`{ ok, value }` or `{ ok: false, error: <name> }`): one
 * isolate runs every snippet of a suite.
 */
export const SNIPPET_RUNNER = `Flotilla.serve(async (req) => {
  const body = await req.text();
  try {
    const value = await (0, eval)('(async () => {' + body + '\\n})')();
    return Response.json({ ok: true, value });
  } catch (e) {
    return Response.json({ ok: false, error: e && e.name });
  }
});`;

/** What a snippet gave: its value as JSON, or the name of what it threw. */
export type SnippetOutcome = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Runs snippets (async function bodies) in the isolate `iso()` loaded with
 * {@link SNIPPET_RUNNER}, in Node (whose web globals follow the standards),
 * or in both, expecting the same answer.
 */
export function snippets(iso: () => DeploymentIsolate) {
  async function inGuest(body: string): Promise<SnippetOutcome> {
    const res = await iso().render(
      request('http://shop.test/run', { method: 'POST', body: new TextEncoder().encode(body) }),
    );
    return JSON.parse(text(res.body)) as SnippetOutcome;
  }
  async function inNode(body: string): Promise<SnippetOutcome> {
    try {
      const fn = new Function(`return (async () => {${body}\n})`)() as () => Promise<unknown>;
      return { ok: true, value: JSON.parse(JSON.stringify((await fn()) ?? null)) };
    } catch (e) {
      return { ok: false, error: (e as Error).name };
    }
  }
  /** Expects the isolate and Node to agree on `body`; returns the isolate's value. */
  async function sameAsNode(body: string): Promise<unknown> {
    const [guest, node] = await Promise.all([inGuest(body), inNode(body)]);
    expect(guest).toEqual(node);
    if (!guest.ok) throw new Error(`snippet threw ${guest.error}`);
    return guest.value;
  }
  return { inGuest, inNode, sameAsNode };
}
