/**
 * How the commands print deployments and environments: aligned tables and
 * the public form of an environment record.
 *
 * @module
 */
import type { EnvironmentRecord } from '@flotilla/deploy';
import { type Ctx, envHost, hostUrl } from './context.ts';

/** Bytes as KiB or MiB. */
export function kib(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}

/** Rows as columns padded to the widest cell (the last column unpadded). */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function envRows(ctx: Ctx, list: EnvironmentRecord[]): string[][] {
  return [
    ['APP', 'ENV', 'DEPLOYMENT', 'SPLIT', 'REGIONS', 'URL', 'UPDATED'],
    ...list.map((e) => [
      e.app,
      e.env,
      e.deploymentId,
      e.split ? splitText(e.split) : '-',
      e.primaryRegion
        ? `${e.primaryRegion}${e.secondaryRegion ? ` > ${e.secondaryRegion}` : ''}`
        : '(shield default)',
      hostUrl(ctx, envHost(ctx, e.app, e.env)),
      e.updatedAt,
    ]),
  ];
}

/**
 * An environment record as printed: variable names only, never their
 * values; secrets as their names and the id of the key they are sealed to.
 */
export function publicEnv(e: EnvironmentRecord): Omit<EnvironmentRecord, 'vars' | 'secrets'> & {
  vars: string[];
  secrets: Array<{ name: string; kid: string }>;
} {
  return {
    ...e,
    vars: Object.keys(e.vars),
    secrets: Object.entries(e.secrets).map(([name, s]) => ({ name, kid: s.kid })),
  };
}

/** `shop-aaa 90%, shop-bbb 10%`. */
export function splitText(
  entries: ReadonlyArray<{ deploymentId: string; destination?: string; percent: number }>,
): string {
  return entries
    .map((e) => `${e.deploymentId}${e.destination ? `:${e.destination}` : ''} ${e.percent}%`)
    .join(', ');
}
