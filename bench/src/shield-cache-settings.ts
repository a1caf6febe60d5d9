/**
 * Settings of the shield-cache bench, read once from the environment, and
 * what every side of its hit test is asked and must answer.
 *
 * @module
 */

/** Measured seconds per side (`BENCH_SHIELD_SECONDS`). @default 5 */
export const SECONDS = Number(process.env.BENCH_SHIELD_SECONDS) || 5;
/** Keep-alive connections of the load generator (`BENCH_SHIELD_CONNECTIONS`). @default 64 */
export const CONNECTIONS = Number(process.env.BENCH_SHIELD_CONNECTIONS) || 64;
/** Load-generator threads (`BENCH_SHIELD_LOAD_THREADS`). @default 1 */
export const LOAD_THREADS = Number(process.env.BENCH_SHIELD_LOAD_THREADS) || 1;
/** The 2-worker nginx row runs (`BENCH_SHIELD_NGINX2=0` skips it). @default true */
export const WITH_NGINX2 = process.env.BENCH_SHIELD_NGINX2 !== '0';
/** The node:http reference runs (`BENCH_SHIELD_NODE_REF=0` skips it). @default true */
export const WITH_NODE_REF = process.env.BENCH_SHIELD_NODE_REF !== '0';
/** Pin the servers and the generator to CPUs of their own (`BENCH_SHIELD_PIN=0`: off). @default true */
export const PIN = process.env.BENCH_SHIELD_PIN !== '0';
/** Slices per side, alternating (A B C C B A). */
export const SLICES = 2;
/** Load before each slice's measured window, ms. */
export const SLICE_WARMUP_MS = 300;
/** Clients of one coalescing burst (`BENCH_COALESCE_CLIENTS`). @default 200 */
export const CLIENTS = Number(process.env.BENCH_COALESCE_CLIENTS) || 200;
/** Cold keys of one burst, at most 100 (`BENCH_COALESCE_KEYS`). @default 20 */
export const KEYS = Math.min(100, Number(process.env.BENCH_COALESCE_KEYS) || 20);
/** Coalescing rounds per shield (`BENCH_COALESCE_ROUNDS`). @default 5 */
export const ROUNDS = Number(process.env.BENCH_COALESCE_ROUNDS) || 5;
/** Where to write the caching shield's `--cpu-prof` profile (`BENCH_SHIELD_CPU_PROF`). @default no profile */
export const CPU_PROF_DIR = process.env.BENCH_SHIELD_CPU_PROF;
export const WORKERS = 2;
export const SCHEDULERS = 2;
/** The page of the hit test. */
export const LISTING = '/react-shop/';
/** `accept-encoding` of the hit test's requests; none (identity bodies) unless set. */
export const ACCEPT_ENCODING = process.env.BENCH_SHIELD_ACCEPT_ENCODING ?? '';
/** The same request headers for every side. */
export const HEADERS: Array<[string, string]> = [
  ['user-agent', 'flotilla-bench'],
  ['accept', 'text/html'],
  ...(ACCEPT_ENCODING ? [['accept-encoding', ACCEPT_ENCODING] as [string, string]] : []),
];
/** A shield hit's response head (a case-insensitive pattern of the load generator). */
export const SHIELD_HIT = String.raw`\r\ncache-status: flotilla; hit; ttl=\d`;
/** An nginx hit's response head. */
export const NGINX_HIT = String.raw`\r\nx-nginx-cache: HIT`;
/** Every response of the plain node:http reference is "a hit": it only ever sends the copy. */
export const ANY = String.raw`^HTTP/1\.1 200`;
