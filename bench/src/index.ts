/**
 * The benches as functions, for scripts that want the figures as objects.
 * Each prints its tables and a `RESULT {json}` line, and resolves with the
 * same figures. Run them in a process started with
 * `--no-node-snapshot --max-semi-space-size=16`.
 *
 * @module
 */
export { main as isolateCost } from './isolate-cost.ts';
export { main as missPath } from './miss-path.ts';
export { main as shieldCache } from './shield-cache.ts';
export { main as ssrThroughput } from './ssr-throughput.ts';
