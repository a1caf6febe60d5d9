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
