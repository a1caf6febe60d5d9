#!/usr/bin/env node
// The `flotilla` command. The version check comes before anything is loaded:
// on an older Node, the CLI's modules could fail to load with a stack trace.
const [major = 0] = process.versions.node.split('.').map(Number);
if (major < 20) {
  process.stderr.write(
    `flotilla needs Node 20 or later (Node 24 for dev and start); this is Node ${process.versions.node}\n`,
  );
  process.exit(1);
}
const { main } = await import('./cli.ts');
process.exitCode = await main(process.argv.slice(2));
// Open handles (NATS sockets in reconnect, timers) must not keep a drained process alive.
process.exit();
