/**
 * The Node.js runtime a framework's Node-runtime server code runs on inside
 * the isolate (Next.js's `handler(req, res, ctx)` entries): a CommonJS
 * loader over the deployment's files (`module-map.ts`), the built-ins of
 * {@link NODE_COMPAT_MODULES} plus the ones that only make sense over those
 * files (`fs` read-only, `vm`, `module`) and Node's server objects (`http`),
 * and its own `process` (the build's env, no host state).
 *
 * What cannot work (`net`, `tls`, `child_process`, `worker_threads`, …)
 * loads, so that code requiring it at the top still starts, as a module
 * whose every function throws naming it (`node:net is not available in
 * Flotilla's sandbox (…)`). Nothing here reaches the host.
 *
 * @module
 */
import { Buffer } from './buffer.ts';
import { crypto } from './crypto.ts';
import { createReadOnlyFs } from './fs.ts';
import { http } from './http.ts';
import { createModuleLoader, type ModuleLoader, type ModuleMap } from './module-map.ts';
import { bareName, NODE_COMPAT_MODULES, REFUSED_MODULES, refusal } from './modules.ts';
import { MODULE_PARAMS, NODE_RUNTIME_MODULES } from './names.ts';
import { stream, streamPromises, streamWeb } from './stream.ts';
import { subtleWithDigest } from './subtle.ts';
import { vm } from './vm.ts';

/** Options of {@link createNodeRuntime}. */
export interface NodeRuntimeOptions {
  /** The deployment's files, as the build wrote them. */
  map: ModuleMap;
  /** `process.env` of the Node-runtime code (never the host's). */
  env: Record<string, string>;
  /** `process.cwd()`: the project's directory in the map (absolute, virtual). */
  cwd: string;
}

/** A Node runtime over one module map. */
export interface NodeRuntime {
  /** `require` of a file of the map by absolute virtual path, or of a built-in. */
  require(specifier: string): unknown;
  /** The `process` its modules see. */
  process: Record<string, unknown>;
}

/** Built-ins whose functions exist but throw when called (no host to reach), naming the module. */
function refusingModule(name: string): unknown {
  const fail = (what: string) => {
    const message = refusal(name);
    // A plain function, so that `new net.Socket()` throws this too.
    return function refused(): never {
      throw new Error(what === '' ? message : message.replace(` is not`, ` (${what}) is not`));
    };
  };
  const target = fail('');
  const proxy: unknown = new Proxy(target, {
    get(_target, key) {
      if (key === 'default') return proxy;
      if (key === '__esModule') return false;
      if (typeof key === 'symbol') return undefined;
      if (key === 'then') return undefined;
      return fail(String(key));
    },
  });
  return proxy;
}

type Timer = (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => unknown;
const g = globalThis as unknown as {
  setTimeout: Timer;
  clearTimeout: (id: unknown) => void;
  setInterval: Timer;
  clearInterval: (id: unknown) => void;
  performance: { now(): number; timeOrigin: number };
  console: { log(...args: unknown[]): void; error(...args: unknown[]): void };
  Flotilla: { AsyncLocalStorage: { bind?: (fn: unknown) => unknown; snapshot?: () => unknown } };
};

const setImmediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) =>
  g.setTimeout(callback, 0, ...args);
const clearImmediate = (id: unknown) => g.clearTimeout(id);

function timers(): Record<string, unknown> {
  return {
    setTimeout: g.setTimeout,
    clearTimeout: g.clearTimeout,
    setInterval: g.setInterval,
    clearInterval: g.clearInterval,
    setImmediate,
    clearImmediate,
  };
}

function timersPromises(): Record<string, unknown> {
  return {
    setTimeout: (ms?: number, value?: unknown) =>
      new Promise((resolve) => g.setTimeout(() => resolve(value), ms)),
    setImmediate: (value?: unknown) => new Promise((resolve) => setImmediate(() => resolve(value))),
  };
}

/** `node:async_hooks` for Node code: the isolate's AsyncLocalStorage, and an AsyncResource over it. */
function asyncHooks(): Record<string, unknown> {
  const base = NODE_COMPAT_MODULES.async_hooks?.() as Record<string, unknown>;
  class AsyncResource {
    readonly type: string;
    constructor(type: string) {
      this.type = type;
    }
    runInAsyncScope(fn: (...args: unknown[]) => unknown, thisArg?: unknown, ...args: unknown[]) {
      return fn.apply(thisArg, args);
    }
    bind(fn: (...args: unknown[]) => unknown) {
      return fn.bind(this);
    }
    emitDestroy() {
      return this;
    }
    static bind(fn: unknown) {
      return g.Flotilla.AsyncLocalStorage.bind?.(fn) ?? fn;
    }
  }
  const module = {
    ...base,
    AsyncResource,
    executionAsyncId: () => 0,
    triggerAsyncId: () => 0,
    createHook: () => ({ enable() {}, disable() {} }),
  };
  return { ...module, default: module };
}

/** A body Node's `Request` takes that the isolate's does not: an async iterable (a Node stream). */
function isIterableBody(body: unknown): body is AsyncIterable<unknown> {
  return (
    typeof body === 'object' &&
    body !== null &&
    !(body instanceof ReadableStream) &&
    !ArrayBuffer.isView(body) &&
    !(body instanceof ArrayBuffer) &&
    typeof (body as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** A web stream of an async iterable's chunks (strings as UTF-8). */
function iterableStream(body: AsyncIterable<unknown>): ReadableStream<Uint8Array> {
  // A Node stream: by its events (readable-stream's async iterator stalls on some streams in the isolate).
  if (typeof (body as { pipe?: unknown }).pipe === 'function') {
    return (stream.Readable as { toWeb(node: unknown): ReadableStream<Uint8Array> }).toWeb(body);
  }
  const it = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await it.next();
      if (done) controller.close();
      else
        controller.enqueue(
          typeof value === 'string' ? Buffer.from(value) : new Uint8Array(value as Uint8Array),
        );
    },
    async cancel(reason) {
      await it.return?.(reason);
    },
  });
}

/**
 * The isolate's `Request`, taking a Node stream as its body as Node's
 * (undici's) does: Next passes its `IncomingMessage` as a route handler's
 * request body.
 */
class NodeRequest extends Request {
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    const body = init?.body as unknown;
    super(input, isIterableBody(body) ? { ...init, body: iterableStream(body) } : init);
  }
}

/** A `process` for Node code: the build's env, Node's fields, no host state. */
function nodeProcess(env: Record<string, string>, cwd: string): Record<string, unknown> {
  const origin = g.performance.now();
  const hrtime = (previous?: [number, number]): [number, number] => {
    const ns = Math.round((g.performance.now() - origin) * 1e6);
    const now: [number, number] = [Math.floor(ns / 1e9), ns % 1e9];
    if (previous === undefined) return now;
    const diff = (now[0] - previous[0]) * 1e9 + (now[1] - previous[1]);
    return [Math.floor(diff / 1e9), diff % 1e9];
  };
  hrtime.bigint = () => BigInt(Math.round((g.performance.now() - origin) * 1e6));
  const fields: Record<string, unknown> = {
    env: { ...env },
    argv: ['node'],
    execArgv: [],
    argv0: 'node',
    execPath: '/node',
    title: 'node',
    pid: 1,
    ppid: 0,
    arch: 'x64',
    platform: 'linux',
    version: 'v24.0.0',
    versions: { node: '24.0.0' },
    release: { name: 'node' },
    features: {},
    config: { variables: {} },
    exitCode: undefined,
    browser: false,
    cwd: () => cwd,
    chdir: () => {
      throw new Error("process.chdir() is not available in Flotilla's sandbox");
    },
    umask: () => 0o22,
    uptime: () => (g.performance.now() - origin) / 1000,
    hrtime,
    memoryUsage: Object.assign(
      () => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }),
      { rss: () => 0 },
    ),
    cpuUsage: () => ({ user: 0, system: 0 }),
    nextTick: (callback: (...args: unknown[]) => void, ...args: unknown[]) =>
      queueMicrotask(() => callback(...args)),
    emitWarning: () => {},
    stdout: {
      write: (text: unknown) => {
        g.console.log(String(text).trimEnd());
        return true;
      },
      isTTY: false,
    },
    stderr: {
      write: (text: unknown) => {
        g.console.error(String(text).trimEnd());
        return true;
      },
      isTTY: false,
    },
    exit: () => {
      throw new Error("process.exit() is not available in Flotilla's sandbox");
    },
    abort: () => {
      throw new Error("process.abort() is not available in Flotilla's sandbox");
    },
  };
  // Node's process is an EventEmitter (Next patches its listener methods).
  const { EventEmitter } = (NODE_COMPAT_MODULES.events as () => unknown)() as {
    EventEmitter: new () => Record<string, unknown>;
  };
  return Object.assign(new EventEmitter(), fields);
}

/** Makes the Node runtime over `options.map` (see the module documentation). */
export function createNodeRuntime(options: NodeRuntimeOptions): NodeRuntime {
  // Node's web crypto has `subtle`; Next's Node runtime digests with it.
  const webCrypto = (globalThis as { crypto?: { subtle?: unknown } }).crypto;
  if (webCrypto !== undefined && webCrypto.subtle === undefined) {
    Object.defineProperty(webCrypto, 'subtle', { value: Object.freeze(subtleWithDigest()) });
  }
  const proc = nodeProcess(options.env, options.cwd);
  const made = new Map<string, unknown>();
  let loader: ModuleLoader;
  const own: Record<string, () => unknown> = {
    async_hooks: asyncHooks,
    crypto,
    fs: () => createReadOnlyFs(loader, () => options.cwd),
    'fs/promises': () => (builtin('fs') as { promises: unknown }).promises,
    http,
    https: http,
    module: () => {
      // Node's `Module`: code that patches its resolution (Next's require hook) may; the
      // loader does not consult it.
      function Module() {}
      Module.prototype.require = (specifier: string) => loader.require(specifier);
      return Object.assign(Module, {
        createRequire: () => loader.require,
        builtinModules: [...NODE_RUNTIME_MODULES],
        isBuiltin: (name: string) => NODE_RUNTIME_MODULES.includes(bareName(name)),
        _resolveFilename: (request: string) => request,
        _load: (request: string) => loader.require(request),
        _cache: {},
        _extensions: {},
        Module,
        default: Module,
      });
    },
    perf_hooks: () => ({ performance: g.performance }),
    process: () => proc,
    stream: () => stream,
    'stream/promises': streamPromises,
    'stream/web': streamWeb,
    timers,
    'timers/promises': timersPromises,
    vm: () => vm,
  };
  function builtin(specifier: string): unknown {
    const name = bareName(specifier);
    if (made.has(name)) return made.get(name);
    const make = Object.hasOwn(own, name)
      ? own[name]
      : Object.hasOwn(NODE_COMPAT_MODULES, name)
        ? NODE_COMPAT_MODULES[name]
        : undefined;
    let module: unknown;
    if (make !== undefined) module = make();
    else if (Object.hasOwn(REFUSED_MODULES, name) || KNOWN_BUILTINS.has(name))
      module = refusingModule(name);
    else throw new Error(refusal(name));
    made.set(name, module);
    return module;
  }
  const globals = {
    process: proc,
    Buffer: Buffer,
    global: globalThis,
    setImmediate,
    clearImmediate,
    Request: NodeRequest,
  } as const;
  loader = createModuleLoader({
    map: options.map,
    builtin,
    isBuiltin: (name) =>
      Object.hasOwn(own, name) ||
      Object.hasOwn(NODE_COMPAT_MODULES, name) ||
      Object.hasOwn(REFUSED_MODULES, name) ||
      KNOWN_BUILTINS.has(name),
    extraArgs: MODULE_PARAMS.slice(5).map((name) => globals[name as keyof typeof globals]),
  });
  return { require: loader.require, process: proc };
}

/** Node built-ins that load as throwing modules (see {@link refusingModule}) rather than failing `require`. */
const KNOWN_BUILTINS = new Set([
  'assert',
  'diagnostics_channel',
  'os',
  'querystring',
  'readline',
  'tty',
  'zlib',
  'constants',
  'punycode',
  'sys',
  'trace_events',
  'wasi',
]);
