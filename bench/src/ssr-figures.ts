/**
 * The figures of the ssr-throughput bench: what one side measured (a
 * {@link Run}), and what a row and an app report from it (renders/s,
 * percentiles, CPU per render, the ratios).
 *
 * @module
 */
import { mean, p50p99, round } from './stats.ts';

/** Stage timings of one sandbox render, as the worker reports them. */
export interface Stages {
  render: number;
  worker: number;
}

/** What one side measured: renders, their latencies, and (sandbox) their stages. */
export interface Run {
  count: number;
  elapsedMs: number;
  /** CPU time of the whole process (every thread) while the run went on, ms. */
  cpuMs?: number;
  latencies: number[];
  stages: Stages[];
}

/** Runs added one after the other (slices of one side). */
export function merge(runs: Run[]): Run {
  return {
    count: runs.reduce((n, r) => n + r.count, 0),
    elapsedMs: runs.reduce((n, r) => n + r.elapsedMs, 0),
    cpuMs: runs.reduce((n, r) => n + (r.cpuMs ?? 0), 0),
    latencies: runs.flatMap((r) => r.latencies),
    stages: runs.flatMap((r) => r.stages),
  };
}

/** The figures of one side of a row. */
export interface Side {
  rps: number;
  /** CPU ms the process spent per render, every thread counted (the sandbox side: transport, worker, thread and isolate). */
  cpuMsPerRender: number;
  p50: number;
  p99: number;
  mean: number;
  renders: number;
}

export function side(run: Run): Side {
  return {
    rps: round((run.count / run.elapsedMs) * 1000, 1),
    cpuMsPerRender: round((run.cpuMs ?? Number.NaN) / run.count, 3),
    ...p50p99(run.latencies),
    mean: round(mean(run.latencies), 3),
    renders: run.count,
  };
}

/** Where a sandbox render's time went, p50 of each part. */
export interface StagesP50 {
  render: number;
  renderMean: number;
  workerMinusRender: number;
  outsideWorker: number;
}

function stageP50(run: Run): StagesP50 {
  const render = p50p99(run.stages.map((s) => s.render)).p50;
  const worker = p50p99(run.stages.map((s) => s.worker)).p50;
  const total = p50p99(run.latencies).p50;
  return {
    render,
    renderMean: round(mean(run.stages.map((s) => s.render)), 3),
    workerMinusRender: round(worker - render, 3),
    outsideWorker: round(total - worker, 3),
  };
}

/** One row (c=1 or c=2) of one app: both sides and both ratios. */
export interface Row {
  plain: Side;
  sandbox: Side & { stagesP50: StagesP50 };
  /** Sandbox renders/s ÷ plain renders/s: the whole path, hops included. */
  ratio: number;
  /** Plain p50 ÷ the p50 of the in-isolate `render` stage: the isolate's own cost, hops excluded. */
  isolateRenderRatio: number;
  /**
   * Plain CPU per render ÷ sandbox CPU per render: renders per CPU-second,
   * what bounds throughput when every core is busy.
   */
  cpuRatio: number;
}

export function row(plain: Run, sandbox: Run): Row {
  const p = side(plain);
  const s = side(sandbox);
  const stagesP50 = stageP50(sandbox);
  return {
    plain: p,
    sandbox: { ...s, stagesP50 },
    ratio: round(s.rps / p.rps, 3),
    isolateRenderRatio: round(p.p50 / stagesP50.render, 3),
    cpuRatio: round(p.cpuMsPerRender / s.cpuMsPerRender, 3),
  };
}

/** Plain Node on a thread against a thread rendering straight into an isolate. */
export interface IsolateRow {
  plain: Side;
  isolate: Side;
  /** Isolate renders/s ÷ plain renders/s. */
  ratio: number;
  /** Plain CPU per render ÷ isolate CPU per render (every thread of the process counted). */
  cpuRatio: number;
  sameHtml: boolean;
}

export function isolateRow(plain: Run, isolate: Run, sameHtml: boolean): IsolateRow {
  const p = side(plain);
  const i = side(isolate);
  return {
    plain: p,
    isolate: i,
    ratio: round(i.rps / p.rps, 3),
    cpuRatio: round(p.cpuMsPerRender / i.cpuMsPerRender, 3),
    sameHtml,
  };
}

/** Every row of one app. */
export interface AppResult {
  app: string;
  page: string;
  /** Bytes of the sandbox bundle of rows c=1 and c=2 (renderRoute + the catalogue). */
  bundleBytes: number;
  htmlChars: number;
  /** Plain and sandbox rendered the same HTML (c=1 and, if run, router+api). */
  sameHtml: boolean;
  c1: Row;
  c2?: Row;
  /** One plain thread against a RenderWorker thread kept busy (4 in flight). */
  loaded?: Row;
  /** The runtime alone (no transport, no piscina hop) against plain Node, c=1. */
  isolate?: IsolateRow;
  /** The app as deployed: its Router fetching the catalogue from the products API, c=1. */
  router?: Row & {
    /** Bytes of the app's real bundle (`flotilla build`). */
    bundleBytes: number;
    sameHtml: boolean;
    /** Its page is the one rows c=1 and c=2 render from memory. */
    sameHtmlAsMemory: boolean;
  };
}
