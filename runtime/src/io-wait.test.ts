import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { disposeLoaded, loadBundle, request, text } from './test-helpers.ts';

/**
 * The render's I/O gate (`RenderOptions.io`): told when the render only
 * waits on its backend calls, and awaited before its continuation runs.
 */

let server: Server;
let origin: string;
/** Answers of the requests the backend holds, in arrival order. */
const held: Array<(body: string) => void> = [];

beforeEach(async () => {
  server = createServer((_req, res: ServerResponse) => {
    held.push((body) => {
      if (!res.headersSent) res.writeHead(200, { 'content-type': 'text/plain' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  disposeLoaded();
  for (const answer of held.splice(0)) answer('');
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Polls `ok` on the event loop until it holds (the test's own timeout bounds it). */
async function until(ok: () => boolean): Promise<void> {
  while (!ok()) await new Promise((r) => setTimeout(r, 5));
}

describe('RenderOptions.io', () => {
  it('tells the render waits on I/O, and runs its continuation only once resume resolves', async () => {
    const iso = await loadBundle(
      `Flotilla.serve(async () => {
        const one = await (await fetch('backend://api/1')).text();
        const [two, three] = await Promise.all([
          fetch('backend://api/2').then((r) => r.text()),
          fetch('backend://api/3').then((r) => r.text()),
        ]);
        return new Response([one, two, three].join(' '));
      });`,
      { backends: { api: origin } },
    );
    const events: string[] = [];
    let grant: (() => void) | undefined;
    const rendering = iso.render(request(), {
      io: {
        waiting: () => events.push('waiting'),
        resume: () => {
          events.push('resume');
          return new Promise<void>((resolve) => {
            grant = resolve;
          });
        },
      },
    });
    let settled = false;
    void rendering.finally(() => {
      settled = true;
    });
    await until(() => held.length === 1);
    expect(events).toEqual(['waiting']);
    held[0]?.('one');
    await until(() => grant !== undefined);
    expect(events).toEqual(['waiting', 'resume']);
    // The continuation is queued: no second call until the gate lets it run.
    await new Promise((r) => setTimeout(r, 200));
    expect(held.length).toBe(1);
    expect(settled).toBe(false);
    const first = grant as () => void;
    grant = undefined;
    first();
    await until(() => held.length === 3);
    expect(events).toEqual(['waiting', 'resume', 'waiting']);
    // One of the two parallel calls answers: its continuation runs, the other still waits.
    held[1]?.('two');
    await until(() => grant !== undefined);
    (grant as unknown as () => void)();
    grant = undefined;
    await until(() => events.length === 4);
    expect(events).toEqual(['waiting', 'resume', 'waiting', 'resume']);
    await until(() => events.length === 5);
    expect(events.at(-1)).toBe('waiting');
    held[2]?.('three');
    await until(() => grant !== undefined);
    (grant as unknown as () => void)();
    const res = await rendering;
    expect(text(res.body)).toBe('one two three');
    expect(events).toEqual(['waiting', 'resume', 'waiting', 'resume', 'waiting', 'resume']);
  }, 30_000);

  it('is never told anything by a render that makes no backend call', async () => {
    const iso = await loadBundle(`Flotilla.serve(() => new Response('ok'));`);
    const events: string[] = [];
    const res = await iso.render(request(), {
      io: { waiting: () => events.push('waiting'), resume: async () => void events.push('resume') },
    });
    expect(text(res.body)).toBe('ok');
    expect(events).toEqual([]);
  });
});
