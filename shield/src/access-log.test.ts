import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogLine } from '@flotilla/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLog } from './access-log.ts';
import { now } from './timing.ts';

let server: Server | undefined;
afterEach(
  () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())),
);

/** A server answering `statuses` in turn through `access`; resolves with its URL. */
async function serve(access: AccessLog, statuses: number[]): Promise<string> {
  let i = 0;
  server = createServer((req, res) => {
    access.begin(req, res, now());
    access.note(req, { app: 'shop', cache: 'miss' });
    res.writeHead(statuses[i++ % statuses.length] as number, { 'content-type': 'text/plain' });
    res.end('body');
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function get(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
}

describe('AccessLog', () => {
  it('samples successful answers only: every 4xx and 5xx gets its line', async () => {
    const lines: LogLine[] = [];
    let draw = 0;
    const access = new AccessLog({
      log: (line) => lines.push(line),
      sample: 0.5,
      clientIp: () => '192.0.2.1',
      region: 'eu',
      // Alternately below and above the sample: every other success is kept.
      random: () => (draw++ % 2 === 0 ? 0.25 : 0.75),
    });
    const url = await serve(access, [200, 200, 200, 200, 404, 503]);
    for (let i = 0; i < 6; i++) await get(`${url}/p/${i}`);
    expect(lines.map((l) => [l.status, l.path])).toEqual([
      [200, '/p/0'],
      [200, '/p/2'],
      [404, '/p/4'],
      [503, '/p/5'],
    ]);
    expect(lines[0]).toMatchObject({
      msg: 'access',
      clientIp: '192.0.2.1',
      app: 'shop',
      cache: 'miss',
      region: 'eu',
      sampled: 0.5,
    });
    expect(lines[2]?.sampled).toBeUndefined();
  });

  it('refuses a sample outside (0, 1], naming the option', () => {
    for (const sample of [0, -1, 1.5, Number.NaN]) {
      expect(
        () => new AccessLog({ log: () => {}, sample, clientIp: () => '', region: 'eu' }),
      ).toThrow(/accessLogSample/);
    }
  });
});
