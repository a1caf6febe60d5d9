/**
 * What part 1 of the shield-cache bench prints and reports: the table of
 * every side, the ratios against nginx (whole run and per slice) and the
 * node:http reference, and a warning where the figures cannot be trusted
 * (the generator was the limit, misses, errors).
 *
 * @module
 */
import type { HitSide, SideFigures } from './hit-throughput.ts';
import { LOAD_THREADS } from './shield-cache-settings.ts';
import { round, table } from './stats.ts';

/** The figures of one side and its row's name. */
export type NamedFigures = SideFigures & { name: string };

/** Part 1's figures, as `RESULT` and the summary use them. */
export interface HitReport {
  shield: NamedFigures;
  nginx1: NamedFigures;
  nginx2: NamedFigures | undefined;
  nodeHttp: NamedFigures | undefined;
  /** Shield req/s ÷ nginx (1 worker) req/s. */
  ratio: number;
  /** The same per slice. */
  sliceRatios: number[];
  /** nginx CPU µs per request ÷ shield CPU µs per request. */
  cpuRatio: number;
  /** Shield req/s ÷ node:http req/s. */
  nodeRatio: number | undefined;
  warnings: string[];
}

/**
 * Prints the table, ratios and warnings of `figs` (one per side, in the
 * order of `sides`: shield, nginx 1 worker, nginx 2 workers if run,
 * node:http if run).
 */
export function reportHits(
  sides: HitSide[],
  figs: NamedFigures[],
  withNginx2: boolean,
  withNodeRef: boolean,
): HitReport {
  const [shieldFig, nginx1Fig] = figs;
  const nginx2Fig = withNginx2 ? figs[2] : undefined;
  const nodeFig = withNodeRef ? figs.at(-1) : undefined;
  if (!shieldFig || !nginx1Fig) throw new Error('missing figures');
  const rows: Array<Array<string | number>> = [
    [
      'side',
      'req/s',
      'p50 ms',
      'p99 ms',
      'hits',
      'non-200',
      'errors',
      'B/resp',
      'server CPU',
      'CPU µs/req',
      'load-gen CPU',
      'rest of machine',
    ],
  ];
  for (const f of figs) {
    rows.push([
      f.name,
      f.rps,
      f.p50,
      f.p99,
      `${round(f.hitRatio * 100, 2)}%`,
      f.non200,
      f.errors,
      f.bytesPerResponse,
      `${Math.round(f.serverCpu * 100)}%`,
      f.serverCpuUsPerRequest,
      `${Math.round(f.loadGenCpu * 100)}%`,
      `${Math.round(f.otherCpu * 100)}%`,
    ]);
  }
  console.log('');
  console.log(table(rows));
  const ratio = round(shieldFig.rps / nginx1Fig.rps, 2);
  const cpuRatio = round(nginx1Fig.serverCpuUsPerRequest / shieldFig.serverCpuUsPerRequest, 2);
  const nodeRatio = nodeFig ? round(shieldFig.rps / nodeFig.rps, 2) : undefined;
  // Slice i of each side ran next to the other's slice i: their ratios show how steady it was.
  const [shieldSide, nginx1Side] = sides;
  const sliceRatios = (shieldSide?.runs ?? []).map((run, i) => {
    const other = nginx1Side?.runs[i];
    return other ? round(run.requests / run.windowMs / (other.requests / other.windowMs), 2) : NaN;
  });
  console.log(
    `ratio shield / nginx (1 worker): ${ratio} in req/s (target ≥ 0.7; per slice ${sliceRatios.join(', ')}); ${cpuRatio} in CPU per request (nginx µs/req ÷ shield µs/req)`,
  );
  if (nodeFig) {
    console.log(
      `shield / plain node:http serving the same bytes: ${nodeRatio} in req/s, ${round(nodeFig.serverCpuUsPerRequest / shieldFig.serverCpuUsPerRequest, 2)} in CPU per request (the part of the gap that is Node's HTTP stack)`,
    );
  }
  const warnings: string[] = [];
  for (const f of figs) {
    const genSaturated = f.loadGenCpu >= 0.9 * LOAD_THREADS;
    if (genSaturated && f.serverCpu < 0.9) {
      warnings.push(
        `${f.name}: the load generator (${Math.round(f.loadGenCpu * 100)}% CPU) was the limit, not the server (${Math.round(f.serverCpu * 100)}%)`,
      );
    }
    if (f.hitRatio < 0.999) warnings.push(`${f.name}: only ${round(f.hitRatio * 100, 2)}% hits`);
    if (f.firstError) warnings.push(`${f.name}: first error: ${f.firstError}`);
  }
  for (const l of warnings) console.log(`warning: ${l}`);
  return {
    shield: shieldFig,
    nginx1: nginx1Fig,
    nginx2: nginx2Fig,
    nodeHttp: nodeFig,
    ratio,
    sliceRatios,
    cpuRatio,
    nodeRatio,
    warnings,
  };
}
