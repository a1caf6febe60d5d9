/**
 * The names of the built-ins `@flotilla/node-compat` gives, without the
 * modules themselves: for build tools that check what a bundle requires.
 *
 * @module
 */

/** Built-ins `require` gives inside the isolate (bare names, without `node:`). */
export const PROVIDED_MODULES: readonly string[] = Object.freeze([
  'async_hooks',
  'buffer',
  'events',
  'path',
  'string_decoder',
  'url',
  'util',
]);

/**
 * The parameters of the wrapper the build writes around each CommonJS file
 * of a module map: CommonJS's five, then the Node globals the file sees
 * (its runtime's `process`, `Buffer`, `global`, `setImmediate`,
 * `clearImmediate`, and a `Request` that takes a Node stream as its body,
 * as Node's does), in this order.
 */
export const MODULE_PARAMS: readonly string[] = Object.freeze([
  'exports',
  'require',
  'module',
  '__filename',
  '__dirname',
  'process',
  'Buffer',
  'global',
  'setImmediate',
  'clearImmediate',
  'Request',
]);

/**
 * Built-ins the Node runtime (`createNodeRuntime`) gives working, beyond
 * {@link PROVIDED_MODULES}; any other built-in loads as a module whose
 * functions throw, naming it.
 */
export const NODE_RUNTIME_MODULES: readonly string[] = Object.freeze([
  ...PROVIDED_MODULES,
  'crypto',
  'fs',
  'fs/promises',
  'http',
  'https',
  'module',
  'perf_hooks',
  'process',
  'stream',
  'stream/promises',
  'stream/web',
  'timers',
  'timers/promises',
  'vm',
]);
