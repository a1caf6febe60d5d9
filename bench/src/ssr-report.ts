/**
 * What the ssr-throughput bench prints: the introduction, one table per
 * app with its breakdown and checks, and the summary line.
 *
 * @module
 */
import type { BenchApp } from './plain-app.ts';
import type { AppResult, Row, Side } from './ssr-figures.ts';
import { LOADED_IN_FLIGHT, SECONDS, SLICES, WARMUP, WITH_ISOLATE } from './ssr-settings.ts';
import { table } from './stats.ts';

/** The lines before the first table: what runs, and what the ratios mean. */
export function printIntro(apps: readonly BenchApp[], apiUrl: string | undefined): void {
  console.log(
    `ssr-throughput: ${apps.map((a) => a.label).join(' and ')} examples, page /; ` +
      `node ${process.version}, flags ${process.execArgv.join(' ') || '(none)'}; ` +
      `warm-up ${WARMUP} renders per thread, then ${SECONDS} s per side and row in ${SLICES} slices alternating between the sides`,
  );
  console.log(
    "  rows c=1 and c=2: both sides run the same handler around the app's renderRoute('/', PRODUCTS), the catalogue compiled in (no backend fetch): the same render work;",
  );
  if (apiUrl !== undefined) {
    console.log(
      `  row router+api: the app as deployed (Router; GET /products from the products API at ${apiUrl} on every render) against the same Router in plain Node;`,
    );
  }
  console.log(
    '  ratio sandbox/plain = sandbox renders/s ÷ plain renders/s (the whole path: transport, worker, piscina thread hop, isolate);',
  );
  console.log(
    '  ratio isolate render only = plain p50 ÷ p50 of the in-isolate `render` stage (the isolate alone, without the piscina/transport hops);',
  );
  if (WITH_ISOLATE) {
    console.log(
      '  row isolate only: a thread renders straight into the isolate (DeploymentIsolate.render: limits, CPU/wall watch, result checks, body copied out), no transport, no piscina hop;',
    );
  }
  console.log(
    '  ratio CPU/render = plain CPU ms per render ÷ sandbox CPU ms per render, every thread of the process counted: the throughput ratio when all cores are busy.',
  );
}

/** Prints one app's table, breakdown and checks. */
export function printApp(app: BenchApp, r: AppResult): void {
  console.log('');
  console.log(
    `${app.label} example (${r.app}), page ${r.page}: ${r.htmlChars} chars of HTML; ` +
      `${r.bundleBytes} B bundle rendering from memory` +
      (r.router ? `, ${r.router.bundleBytes} B deployed bundle (Router)` : ''),
  );
  const rows: Array<Array<string | number>> = [
    [
      'row',
      'side',
      'renders/s',
      'p50 ms',
      'p99 ms',
      'mean ms',
      'renders',
      'CPU ms/render',
      'ratio sandbox/plain',
      'ratio isolate render only',
      'ratio CPU/render',
    ],
  ];
  const sideRow = (label: string, name: string, x: Side, ratios: Array<number | string>) =>
    rows.push([label, name, x.rps, x.p50, x.p99, x.mean, x.renders, x.cpuMsPerRender, ...ratios]);
  const add = (label: string, x: Row) => {
    sideRow(label, 'plain node', x.plain, ['', '', '']);
    sideRow(label, 'sandbox', x.sandbox, [x.ratio, x.isolateRenderRatio, x.cpuRatio]);
  };
  add('c=1 (1 thread), from memory', r.c1);
  if (r.loaded) add(`loaded: 1 thread, ${LOADED_IN_FLIGHT} in flight`, r.loaded);
  if (r.isolate) {
    const label = 'isolate only c=1, from memory';
    sideRow(label, 'plain node', r.isolate.plain, ['', '', '']);
    sideRow(label, 'isolate', r.isolate.isolate, [r.isolate.ratio, '', r.isolate.cpuRatio]);
  }
  if (r.c2) add('c=2 (2 threads), from memory', r.c2);
  if (r.router) add('router+api c=1 (fetch + render)', r.router);
  console.log(table(rows));
  const st = r.c1.sandbox.stagesP50;
  console.log(
    `  sandbox c=1 per-render p50 breakdown: inside isolate (render) ${st.render} ms (mean ${st.renderMean}), ` +
      `worker process around it (bundle lookup, piscina, thread hop) ${st.workerMinusRender} ms, ` +
      `transport + encode/decode ${st.outsideWorker} ms; plain node p50 ${r.c1.plain.p50} ms (mean ${r.c1.plain.mean})`,
  );
  if (r.router) {
    const rt = r.router.sandbox.stagesP50;
    console.log(
      `  router+api: both sides run the app's Router, which fetches GET /products (~40 KB of JSON) from the products API ` +
        `(a process of its own) on every render; the sandbox's render stage (fetch included) p50 ${rt.render} ms, ` +
        `plain node p50 ${r.router.plain.p50} ms. Not the isolate's cost alone: the API's time weighs on both sides.`,
    );
  }
  console.log(
    `  same HTML on both sides: ${r.sameHtml ? 'yes' : 'NO'} (${r.htmlChars} chars plain)` +
      (r.router
        ? `; router+api page ${r.router.sameHtmlAsMemory ? 'identical to' : 'DIFFERENT from'} the page rendered from memory`
        : ''),
  );
}

/** The `summary:` line: every app's ratios in one sentence. */
export function printSummary(apps: readonly BenchApp[], results: readonly AppResult[]): void {
  const summary = results.map((r) => {
    const app = apps.find((a) => a.name === r.app);
    return (
      `${app?.label}: sandbox ${r.c1.sandbox.rps}/s vs plain ${r.c1.plain.rps}/s on one thread ` +
      `(ratio ${r.c1.ratio}, isolate render only ${r.c1.isolateRenderRatio})` +
      (r.loaded ? `, loaded (1 thread busy) ratio ${r.loaded.ratio}` : '') +
      (r.isolate
        ? `, isolate only ${r.isolate.isolate.rps}/s vs ${r.isolate.plain.rps}/s (ratio ${r.isolate.ratio})`
        : '') +
      (r.c2
        ? `, on two threads ${r.c2.sandbox.rps}/s vs ${r.c2.plain.rps}/s (ratio ${r.c2.ratio}, isolate render only ${r.c2.isolateRenderRatio})`
        : '') +
      (r.router
        ? `; Router + products API ${r.router.sandbox.rps}/s vs ${r.router.plain.rps}/s (ratio ${r.router.ratio})`
        : '')
    );
  });
  console.log(`summary: ${summary.join('; ')}`);
}
