/**
 * What framework server code that expects some of Node finds on the global
 * object: `require` for the built-ins of {@link NODE_COMPAT_MODULES} (the
 * refused ones throw, naming the module) and `process` (`env`, `nextTick`,
 * `cwd`, `platform`, `versions`; no host state), and `FormData` for string
 * entries (see `form-data.ts`). Nothing is replaced that
 * the isolate already has.
 *
 * @module
 */
import { StringFormData } from './form-data.ts';
import { bareName, NODE_COMPAT_MODULES, refusal } from './modules.ts';

/** The isolate's own (no DOM or Node types in this package). */
declare function queueMicrotask(callback: () => void): void;

/** Options of {@link installNodeCompat}. */
export interface NodeCompatOptions {
  /** `process.env`: what the build decided the server code sees (never the host's). */
  env: Record<string, string>;
}

/** Made modules, so that two `require`s of one built-in give the same object. */
const made = new Map<string, unknown>();

/**
 * `require(specifier)` over {@link NODE_COMPAT_MODULES}.
 *
 * @throws Error naming the module for a refused or unknown built-in.
 */
export function nodeRequire(specifier: string): unknown {
  const name = bareName(String(specifier));
  if (made.has(name)) return made.get(name);
  const make = Object.hasOwn(NODE_COMPAT_MODULES, name) ? NODE_COMPAT_MODULES[name] : undefined;
  if (make === undefined) throw new Error(refusal(name));
  const module = make();
  made.set(name, module);
  return module;
}

/** A `process` with the build's env and no host state. */
function sandboxProcess(env: Record<string, string>): Record<string, unknown> {
  return {
    env: { ...env },
    argv: [],
    platform: 'linux',
    version: 'v24.0.0',
    versions: {},
    browser: false,
    cwd: () => '/',
    nextTick: (callback: (...args: unknown[]) => void, ...args: unknown[]) =>
      queueMicrotask(() => callback(...args)),
    emitWarning: () => {},
    on: () => {},
    once: () => {},
    off: () => {},
  };
}

/**
 * Puts `require`, `process` and a string-only `FormData` on the global
 * object (each only where the isolate has none), with `options.env` as
 * `process.env`.
 */
export function installNodeCompat(options: NodeCompatOptions): void {
  const g = globalThis as Record<string, unknown>;
  if (g.process === undefined) g.process = sandboxProcess(options.env);
  if (g.require === undefined) g.require = nodeRequire;
  if (g.FormData === undefined) g.FormData = StringFormData;
}
