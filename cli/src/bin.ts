import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2));
// Open handles (NATS sockets in reconnect, timers) must not keep a drained process alive.
process.exit();
