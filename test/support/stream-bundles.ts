/**
 * The streaming suites' app and its slow backend: a React 19 page whose
 * slow part suspends (`renderToReadableStream` with Suspense) on a backend
 * call the test answers when it chooses, so a suite can tell "the shell
 * arrived" from "the slow part arrived" by events, not by wall time.
 *
 * @module
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ManifestRoute } from '@flotilla/manifest';
import { isolateBundleOf, type TestBundle } from '@flotilla/test-harness';

/** The bundle's source: React from this package's dependencies. */
const SOURCE = `
import { createElement as h, Suspense, use } from 'react';
import { renderToReadableStream } from 'react-dom/server.edge';

function Late({ text }) {
  return h('p', { id: 'late' }, use(text));
}

function Page({ id, text }) {
  return h('html', null,
    h('head', null, h('title', null, 'stream ' + id)),
    h('body', null,
      h('h1', { id: 'shell' }, 'Shell of ' + id),
      h(Suspense, { fallback: h('p', { id: 'fallback' }, 'loading…') }, h(Late, { text })),
    ),
  );
}

const enc = new TextEncoder();

Flotilla.serve(async (request) => {
  const url = new URL(request.url);
  // The app is served under /streamtest/: the last two segments are what counts.
  const [kind = '', id = '0'] = url.pathname.split('/').slice(-2);
  const gate = () => fetch('backend://slow/' + kind + '-' + id).then((r) => r.text());
  if (kind === 'big') {
    // 9 MiB in 64 KiB chunks, byte i of the body being (i * 7) % 251.
    const total = 9 * 1024 * 1024;
    let at = 0;
    return new Response(new ReadableStream({
      pull(c) {
        if (at >= total) return c.close();
        const n = Math.min(64 * 1024, total - at);
        const chunk = new Uint8Array(n);
        for (let i = 0; i < n; i++) chunk[i] = ((at + i) * 7) % 251;
        at += n;
        c.enqueue(chunk);
      },
    }), { headers: { 'content-type': 'application/octet-stream' } });
  }
  if (kind === 'endless') {
    // Never ends: only its reader going away (or the limits) stops it.
    return new Response(new ReadableStream({
      pull(c) { c.enqueue(new Uint8Array(64 * 1024).fill(46)); },
    }), { headers: { 'content-type': 'text/plain' } });
  }
  if (kind === 'broken' || kind === 'killed') {
    // The shell, then a failure once the backend answers: a throw, or a CPU loop the limit kills.
    return new Response(new ReadableStream({
      async start(c) {
        c.enqueue(enc.encode('<!doctype html><h1 id="shell">Shell of ' + id + '</h1>'));
        await gate();
        if (kind === 'killed') for (;;) {}
        c.error(new Error('the slow part failed after the shell'));
      },
    }), { headers: { 'content-type': 'text/html; charset=utf-8' } });
  }
  const stream = await renderToReadableStream(h(Page, { id, text: gate() }));
  return new Response(stream, { headers: { 'content-type': 'text/html; charset=utf-8' } });
});
`;

/** Routes: `/page/:id` and `/broken/:id`, `/killed/:id` cacheable for 60 s; `/big`, `/endless` not cached. */
const ROUTES: ManifestRoute[] = [
  ['/page/:id', true],
  ['/broken/:id', true],
  ['/killed/:id', true],
  ['/big/:id', false],
  ['/endless/:id', false],
].map(([path, cache], id) => ({
  id,
  criteria: { path: path as string },
  fallback: false,
  action: { kind: 'render' as const },
  ...(cache ? { cache: { edge: { maxAgeSeconds: 60 } } } : {}),
  headerOps: [],
}));

let built: string | undefined;

/** The `streamtest` app, its `slow` backend at `origin`. */
export function streamApp(origin: string): TestBundle {
  built ??= isolateBundleOf(SOURCE, fileURLToPath(new URL('.', import.meta.url)));
  return {
    name: 'streamtest',
    code: built,
    backends: { slow: origin },
    routes: ROUTES,
    limits: { cpuMs: 300 },
  };
}

/** The slow backend: each call waits until the test opens its gate. */
export interface SlowBackend {
  origin: string;
  /** Resolves once the backend got the call for `name` (`page-1`, …); how many it got so far. */
  called(name: string): Promise<number>;
  /** Answers the calls for `name` (waiting and future ones) with `text`. */
  open(name: string, text?: string): void;
  close(): Promise<void>;
}

export async function startSlowBackend(): Promise<SlowBackend> {
  const calls = new Map<string, number>();
  const opened = new Map<string, string>();
  const waiting = new Map<string, Array<() => void>>();
  const callWaiters = new Map<string, Array<() => void>>();
  const server: Server = createServer((req, res) => {
    const name = (req.url ?? '/').split('/').pop() ?? '';
    calls.set(name, (calls.get(name) ?? 0) + 1);
    for (const w of callWaiters.get(name) ?? []) w();
    callWaiters.delete(name);
    const answer = () => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(opened.get(name) ?? '');
    };
    if (opened.has(name)) answer();
    else waiting.set(name, [...(waiting.get(name) ?? []), answer]);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    called: (name) =>
      (calls.get(name) ?? 0) > 0
        ? Promise.resolve(calls.get(name) ?? 0)
        : new Promise((resolve) => {
            callWaiters.set(name, [
              ...(callWaiters.get(name) ?? []),
              () => resolve(calls.get(name) ?? 0),
            ]);
          }),
    open(name, text = `the slow part of ${name}`) {
      opened.set(name, text);
      for (const answer of waiting.get(name) ?? []) answer();
      waiting.delete(name);
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
