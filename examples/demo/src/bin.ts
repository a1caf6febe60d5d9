/**
 * `./run start`: the embedded fleet with the example apps. Hosts isolates,
 * so it first gives itself the isolate-host Node flags (re-executing itself,
 * same PID) before anything else loads.
 *
 * @module
 */
import { execWithIsolateHostFlags } from '@flotilla/runtime/process-flags';

execWithIsolateHostFlags();
const { runDemo } = await import('./demo.ts');
process.exitCode = await runDemo(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
});
// Open handles (timers, sockets) must not keep a drained process alive.
process.exit();
