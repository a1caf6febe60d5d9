/**
 * The reference for what Node's HTTP stack alone costs: a node:http server
 * in a process of its own that answers every request with the same status,
 * headers and body as the shield's hit, from memory.
 *
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ChildHandle, spawnProcess } from '@flotilla/test-harness';
import { type Got, getBytes } from './http-get.ts';
import { LISTING } from './shield-cache-settings.ts';

const SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const body = fs.readFileSync(process.env.BENCH_BODY);
const headers = JSON.parse(process.env.BENCH_HEADERS);
const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, headers);
  res.end(body);
});
server.keepAliveTimeout = 5000;
server.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port));
process.on('SIGTERM', () => process.exit(0)); // writes a --cpu-prof profile
`;

const READY = /^ready \d+$/;

/** The running reference server. */
export interface NodeHttpReference {
  child: ChildHandle;
  port: number;
}

/**
 * Starts the reference answering as `hit` did (its body kept in `dir`),
 * profiled into `cpuProfDir` if given, and checks that it serves the same
 * bytes.
 */
export async function startNodeHttpReference(
  hit: Got,
  dir: string,
  cpuProfDir: string | undefined,
): Promise<NodeHttpReference> {
  const bodyFile = join(dir, 'listing.html');
  await writeFile(bodyFile, hit.body);
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(hit.headers)) {
    if (v === undefined || ['date', 'connection', 'keep-alive'].includes(k)) continue;
    headers[k] = v;
  }
  const child = await spawnProcess({
    command: process.execPath,
    args: [...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []), '-e', SERVER],
    env: { BENCH_BODY: bodyFile, BENCH_HEADERS: JSON.stringify(headers) },
    name: 'node-http-reference',
    readyPattern: READY,
  });
  const port = Number((await child.waitForLine(READY)).slice(6));
  const r = await getBytes(`http://127.0.0.1:${port}${LISTING}`);
  if (!r.body.equals(hit.body)) {
    await child.kill('SIGKILL');
    throw new Error('the node:http reference serves other bytes');
  }
  return { child, port };
}
