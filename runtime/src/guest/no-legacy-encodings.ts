/**
 * Stands in for `@exodus/bytes/encoding.js` (aliased in guest-code.ts).
 * whatwg-url imports that module only to register the legacy multi-byte
 * encodings (Shift_JIS, GBK, …; 150 KB of tables) for URL parsing with a
 * non-UTF-8 document encoding. The URL API always parses as UTF-8, so the
 * tables would never be used.
 */
export {};
