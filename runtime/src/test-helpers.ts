/**
 * Helpers for the runtime's tests: load inline bundles, render, read bodies.
 * Not exported from the package.
 */
import { createHash } from 'node:crypto';
import type { SandboxRequest } from './marshal.ts';
import { DeploymentIsolate, type LoadOptions } from './sandbox.ts';

/** A bundle answering every request with a small 201 HTML page. */
export const HELLO = `Flotilla.serve(() => new Response('<h1>Hello</h1>', {
  status: 201,
  headers: { 'content-type': 'text/html; charset=utf-8', 'x-app': 'shop' },
}));`;

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
