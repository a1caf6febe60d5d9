/**
 * App A's clients in the neighbours scenario, as a process of their own:
 * A's clients are elsewhere on the internet, so answering them must not
 * delay the client that times B's requests (in one process, A's flood of
 * fast answers would queue on the timing client's event loop and count as
 * B's latency).
 *
 * Usage: `node attack-client.ts <shield url> <path prefix> <concurrency>`.
 * It prints `ready` once started; on SIGTERM it lets each client finish its
 * request, prints `{"sent":n,"counts":{status:n}}` and exits 0.
 *
 * @module
 */
import { httpRequest } from './http.ts';

const [shieldUrl, path, concurrencyArg] = process.argv.slice(2);
const concurrency = Number(concurrencyArg);
if (!shieldUrl || !path || !Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write('usage: attack-client.ts <shield url> <path prefix> <concurrency>\n');
  process.exit(2);
}

let stopping = false;
let sent = 0;
const counts: Record<string, number> = {};
const loop = async (i: number) => {
  for (let n = 0; !stopping; n++) {
    sent++;
    const status = await httpRequest(shieldUrl, `${path}${i}-${n}`, { timeoutMs: 30_000 }).then(
      (r) => String(r.status),
      (err: Error) => err.message.split(':')[0] ?? 'error',
    );
    counts[status] = (counts[status] ?? 0) + 1;
  }
};
const loops = Array.from({ length: concurrency }, (_, i) => loop(i));
process.once('SIGTERM', () => {
  stopping = true;
  void Promise.all(loops).then(() => {
    process.stdout.write(`${JSON.stringify({ sent, counts })}\n`, () => process.exit(0));
  });
});
process.stdout.write('ready\n');
