/**
 * Settings of the ssr-throughput bench, read once from the environment.
 *
 * @module
 */
import { REACT_SHOP, VUE_SHOP } from './plain-app.ts';

/**
 * Measured seconds per side and row (`BENCH_SSR_SECONDS`).
 * @default 5
 */
export const SECONDS = Number(process.env.BENCH_SSR_SECONDS) || 5;
/** The c=2 rows run (`BENCH_SSR_C2=0` skips them). @default true */
export const WITH_C2 = process.env.BENCH_SSR_C2 !== '0';
/** The router+api rows run (`BENCH_SSR_ROUTER=0` skips them). @default true */
export const WITH_ROUTER = process.env.BENCH_SSR_ROUTER !== '0';
/** The isolate-only rows run (`BENCH_SSR_ISOLATE=0` skips them). @default true */
export const WITH_ISOLATE = process.env.BENCH_SSR_ISOLATE !== '0';
/** The loaded rows run (`BENCH_SSR_LOADED=0` skips them). @default true */
export const WITH_LOADED = process.env.BENCH_SSR_LOADED !== '0';
/** Renders the sandbox keeps in flight on its one thread in row "loaded" (RenderWorker's default tasksPerThread). */
export const LOADED_IN_FLIGHT = 4;
/** Warm-up renders per thread, before anything is measured. */
export const WARMUP = 300;
/** Slices each side's measured time is cut into, alternating with the other side's. */
export const SLICES = 6;
/** The apps measured (`BENCH_SSR_APPS=react-shop,vue-shop`). @default both */
export const APPS = [REACT_SHOP, VUE_SHOP].filter(
  (app) => !process.env.BENCH_SSR_APPS || process.env.BENCH_SSR_APPS.split(',').includes(app.name),
);
