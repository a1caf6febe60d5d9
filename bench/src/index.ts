/**
 * The benches as functions, for scripts that want the figures as objects.
 * Each prints its tables and a `RESULT {json}` line, and resolves with the
 * same figures. Run them in a process started with the isolate-host flags
 * (`ISOLATE_HOST_FLAGS` of `@flotilla/runtime`).
 *
 * @module
 */
export { main as asyncContext } from './async-context.ts';
export { main as cacheMemory } from './cache-memory.ts';
export { main as cacheTiers } from './cache-tiers.ts';
export { main as isolateCost } from './isolate-cost.ts';
export { main as missPath } from './miss-path.ts';
export { main as neighbours } from './neighbours.ts';
export { main as outputBomb } from './output-bomb.ts';
export { main as overload } from './overload.ts';
export { main as shieldCache } from './shield-cache.ts';
export { main as ssrThroughput } from './ssr-throughput.ts';
export { main as streamTtfb } from './stream-ttfb.ts';
