/**
 * The Node built-ins the isolate can give framework server code, each a
 * polyfill over the isolate's own web APIs (unenv's where it has one), and
 * the ones it refuses. Nothing here reaches the host: no file system, no
 * sockets, no processes.
 *
 * @module
 */

// @ts-expect-error the events package ships no types (its file path is typed nowhere)
import * as eventsPackage from 'events/events.js';
import * as path from 'unenv/runtime/node/path/index';
import * as stringDecoder from 'unenv/runtime/node/string_decoder/index';
import * as url from 'unenv/runtime/node/url/index';
import * as util from 'unenv/runtime/node/util/index';
import * as buffer from './buffer.ts';

/** `node:events`: the `events` package (Node's own EventEmitter, ported; unenv's `listeners()` of an event with none throws). */
function events(): unknown {
  // Node's `require('events')` is the EventEmitter class itself (with `.EventEmitter`, `.once`, …).
  return (eventsPackage as { default?: unknown }).default ?? eventsPackage;
}

/** Isolate globals the build puts on `globalThis` before framework code runs. */
interface FlotillaGlobal {
  Flotilla: { AsyncLocalStorage: unknown };
}

/** `node:async_hooks` as the isolate has it: AsyncLocalStorage and nothing else. */
function asyncHooks(): Record<string, unknown> {
  const { AsyncLocalStorage } = (globalThis as unknown as FlotillaGlobal).Flotilla;
  return { AsyncLocalStorage, default: { AsyncLocalStorage } };
}

/**
 * Built-ins a bundle may `require`, by bare name (`node:` prefixes are
 * stripped first). Each is a function, so a module is only made when
 * something asks for it.
 */
export const NODE_COMPAT_MODULES: Readonly<Record<string, () => unknown>> = Object.freeze({
  async_hooks: asyncHooks,
  buffer: () => buffer,
  events,
  path: () => path,
  string_decoder: () => stringDecoder,
  url: () => url,
  util: () => util,
});

/**
 * Built-ins that cannot work in the isolate, and why. Requiring one throws
 * {@link refusal}'s message, naming the module.
 */
export const REFUSED_MODULES: Readonly<Record<string, string>> = Object.freeze({
  child_process: 'an isolate cannot start processes',
  cluster: 'an isolate cannot start processes',
  dgram: 'an isolate has no sockets',
  dns: 'an isolate has no sockets; fetch() a declared backend instead',
  fs: 'an isolate has no file system',
  'fs/promises': 'an isolate has no file system',
  http2: 'an isolate has no sockets',
  inspector: 'an isolate has no inspector',
  net: 'an isolate has no sockets; fetch() a declared backend instead',
  tls: 'an isolate has no sockets; fetch() a declared backend instead',
  v8: 'an isolate cannot reach the engine',
  vm: 'an isolate cannot make contexts',
  worker_threads: 'an isolate cannot start threads',
});

/** The message of the error a refused (or unknown) built-in throws. */
export function refusal(name: string): string {
  const why = REFUSED_MODULES[name] ?? 'Flotilla does not provide it';
  return `node:${name} is not available in Flotilla's sandbox (${why})`;
}

/** `node:util` → `util`; other names unchanged. */
export function bareName(specifier: string): string {
  return specifier.startsWith('node:') ? specifier.slice('node:'.length) : specifier;
}
