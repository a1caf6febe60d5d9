/**
 * Monitoring as an operator runs it, against real processes: a scheduler
 * with a local autoscaler (its workers on random admin ports), a shield and
 * nats-server. Checks Prometheus HTTP service discovery (`/http-sd`, with
 * promtool's own discovery), counters at 0 in fresh processes, the latency
 * buckets, then the alerting rules (`promtool test rules`), the
 * PrometheusRule, and that every rule, dashboard and cookbook query parses
 * and names only metrics these processes export.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type ChildHandle,
  type Fleet,
  freePort,
  httpGet,
  metricSamples,
  type RoleProcess,
  schedulerHealth,
  spawnProcess,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { fixtures } from '../support/control-plane.ts';
import { promtool } from '../support/promtool.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PROMETHEUS_DIR = join(ROOT, 'deploy', 'prometheus');
const RULES = join(PROMETHEUS_DIR, 'flotilla-rules.yml');
const RULE_TESTS = join(PROMETHEUS_DIR, 'flotilla-rules.test.yml');
const PROMETHEUS_CONFIG = join(PROMETHEUS_DIR, 'prometheus.yml');
const PROMETHEUS_RULE = join(ROOT, 'deploy', 'kubernetes', 'prometheus-rule.yaml');
const KEDA = join(ROOT, 'deploy', 'kubernetes', 'keda-scaledobject.yaml');
const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'flotilla-dashboard.json');
const CATALOGUE = join(ROOT, 'docs', 'metrics.md');

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML/JSON documents are untyped trees.
type Doc = Record<string, any>;

interface SdGroup {
  targets: string[];
  labels: Record<string, string>;
}

let fleet: Fleet;
let scheduler: RoleProcess;
let shield: RoleProcess;
let work: string;
/** Exposition text of every process, scraped once before any request. */
const fresh = new Map<string, string>();

async function httpSd(): Promise<SdGroup[]> {
  const res = await httpGet(`${scheduler.adminUrl}/http-sd`);
  expect(res.status).toBe(200);
  return JSON.parse(res.body) as SdGroup[];
}

async function scrape(base: string): Promise<string> {
  const res = await httpGet(`${base}/metrics`);
  expect(res.status, base).toBe(200);
  return res.body;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'flotilla-monitoring-'));
  fleet = await startFleet({
    schedulers: 0,
    workers: 0,
    shields: 0,
    cache: true,
    publish: fixtures(),
  });
  scheduler = await fleet.add('scheduler', {
    args: ['--autoscale', 'local', '--min-workers', '2', '--max-workers', '3', '--threads', '1'],
  });
  shield = await fleet.add('shield');
  await waitFor(async () => (await schedulerHealth(scheduler)).liveWorkers === 2, {
    timeoutMs: 60_000,
    message: 'the local autoscaler never brought the region to 2 workers',
  });
  await waitFor(async () => (await httpSd()).length === 2, {
    timeoutMs: 15_000,
    message: '/http-sd never listed the 2 workers',
  });
  fresh.set('scheduler', await scrape(scheduler.adminUrl));
  fresh.set('shield', await scrape(shield.adminUrl));
  for (const [i, group] of (await httpSd()).entries()) {
    fresh.set(`worker ${i}`, await scrape(`http://${group.targets[0]}`));
  }
}, 120_000);

afterAll(async () => {
  // SIGTERM: the scheduler drains the workers it started before it exits.
  await fleet?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Metric families (`# TYPE name kind`) the fleet's processes export. */
function exported(): Map<string, string> {
  const out = new Map<string, string>();
  for (const text of fresh.values()) {
    for (const m of text.matchAll(/^# TYPE (\S+) (\w+)$/gm))
      out.set(m[1] as string, m[2] as string);
  }
  return out;
}

/** The `flotilla_*` series a PromQL expression names that no process exports. */
function unknownSeries(exprs: readonly string[]): string[] {
  const families = exported();
  const known = (series: string) => {
    if (families.has(series)) return true;
    const m = /^(.*)_(bucket|sum|count)$/.exec(series);
    return m !== null && families.get(m[1] as string) === 'histogram';
  };
  const names = exprs.flatMap((e) => [
    ...e.replace(/"(?:[^"\\]|\\.)*"/g, '""').matchAll(/\bflotilla_[a-zA-Z0-9_]+\b/g),
  ]);
  return [...new Set(names.map((m) => m[0]))].filter((s) => !known(s));
}

/** One series line's value: `name{…labels…} value` with every label given present. */
function seriesValue(
  text: string,
  name: string,
  labels: Record<string, string>,
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('a scheduler running a local autoscaler', () => {
  it('lists every worker it runs at /http-sd, in the http_sd format, each serving /metrics', async () => {
    const groups = await httpSd();
    expect(groups).toHaveLength(2);
    const ids = new Set<string>();
    for (const group of groups) {
      expect(group.targets).toHaveLength(1);
      expect(group.targets[0]).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(group.labels).toMatchObject({
        region: 'test',
        flotilla_role: 'worker',
        __meta_flotilla_state: 'ready',
      });
      expect(group.labels.flotilla_scheduler).toMatch(/^s-[0-9a-f]+$/);
      const id = group.labels.__meta_flotilla_worker as string;
      expect(id).toMatch(/^w-[0-9a-f]+$/);
      ids.add(id);
      // The target is that worker: its own gauges carry its id.
      const text = await scrape(`http://${group.targets[0]}`);
      expect(seriesValue(text, 'flotilla_worker_capacity', { worker: id })).toBeGreaterThan(0);
    }
    expect(ids.size).toBe(2);
  });

  it("is discovered by Prometheus' own http_sd with the documented scrape configuration", async () => {
    const schedulerHost = new URL(scheduler.adminUrl).host;
    const config = (await readFile(PROMETHEUS_CONFIG, 'utf8'))
      .replaceAll('scheduler-1:9464', schedulerHost)
      // Both documented schedulers are the one scheduler here.
      .replaceAll('scheduler-2:9464', schedulerHost)
      .replace(/^rule_files:\n(?: {2}- .*\n)+/m, '');
    const file = join(work, 'prometheus.yml');
    await writeFile(file, config);
    const out = await promtool([
      'check',
      'service-discovery',
      '--timeout=10s',
      file,
      'flotilla-workers',
    ]);
    expect(out.code, out.stderr).toBe(0);
    const discovered = JSON.parse(out.stdout) as Array<{
      discoveredLabels: Record<string, string>;
      labels: Record<string, string>;
    }>;
    const expected = (await httpSd()).map((g) => g.targets[0]).sort();
    const addresses = [...new Set(discovered.map((d) => d.labels.__address__))].sort();
    expect(addresses).toEqual(expected);
    for (const d of discovered) {
      expect(d.labels).toMatchObject({
        region: 'test',
        flotilla_role: 'worker',
        job: 'flotilla-workers',
      });
      // The relabelling of the documented configuration keeps the worker id.
      expect(d.labels.worker_id).toBe(d.discoveredLabels.__meta_flotilla_worker);
    }
  }, 60_000);

  it('documents the same scrape configuration as deploy/prometheus/prometheus.yml, which promtool accepts', async () => {
    const docs = await readFile(CATALOGUE, 'utf8');
    const block = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .find((b) => b.includes('http_sd_configs'));
    expect(block, 'docs/metrics.md has no scrape configuration with http_sd_configs').toBeDefined();
    const documented = parseYaml(block as string) as Doc;
    const shipped = parseYaml(await readFile(PROMETHEUS_CONFIG, 'utf8')) as Doc;
    expect(documented.scrape_configs).toEqual(shipped.scrape_configs);
    const check = await promtool(['check', 'config', PROMETHEUS_CONFIG]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });
});

describe('fresh processes', () => {
  it('list the counters with known labels at 0 before their first event', () => {
    const s = fresh.get('scheduler') as string;
    for (const reason of ['queue_full', 'queue_timeout']) {
      expect(
        seriesValue(s, 'flotilla_scheduler_shed_total', { region: 'test', reason }),
        reason,
      ).toBe(0);
    }
    expect(
      seriesValue(s, 'flotilla_scheduler_retries_total', { reason: 'FLOTILLA_ERR_WORKER_LOST' }),
    ).toBe(0);
    for (const direction of ['up', 'down']) {
      expect(
        seriesValue(s, 'flotilla_autoscaler_scale_events_total', { region: 'test', direction }),
        direction,
      ).toBe(0);
    }
    const h = fresh.get('shield') as string;
    for (const code of [
      'FLOTILLA_ERR_OVERLOADED',
      'FLOTILLA_ERR_NO_WORKERS',
      'FLOTILLA_ERR_DEADLINE',
    ]) {
      expect(seriesValue(h, 'flotilla_shield_errors_total', { code, region: 'test' }), code).toBe(
        0,
      );
    }
    expect(
      seriesValue(h, 'flotilla_shield_retries_total', { reason: 'FLOTILLA_ERR_SCHEDULER_LOST' }),
    ).toBe(0);
    const w = fresh.get('worker 0') as string;
    for (const [code, kind] of [
      ['FLOTILLA_ERR_CPU_LIMIT', 'user'],
      ['FLOTILLA_ERR_RENDER', 'user'],
      ['FLOTILLA_ERR_INTERNAL', 'system'],
    ] as const) {
      expect(seriesValue(w, 'flotilla_worker_errors_total', { code, kind }), code).toBe(0);
    }
  });

  it('export whether they reach NATS', () => {
    expect(
      seriesValue(fresh.get('scheduler') as string, 'flotilla_nats_connected', {
        role: 'scheduler',
      }),
    ).toBe(1);
    expect(
      seriesValue(fresh.get('shield') as string, 'flotilla_nats_connected', { role: 'shield' }),
    ).toBe(1);
    expect(
      seriesValue(fresh.get('worker 1') as string, 'flotilla_nats_connected', { role: 'worker' }),
    ).toBe(1);
  });

  it('time requests and renders in the same millisecond-scale buckets at every tier', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await httpGet(`${shield.url}/react-shop/p/${i + 1}`)).status).toBe(200);
    }
    const workers = (await httpSd()).map((g) => `http://${g.targets[0]}`);
    const bounds = async (source: string, name: string) => {
      const les = (await metricSamples(source, `${name}_bucket`)).map((s) => s.labels.le as string);
      return [...new Set(les)];
    };
    const shieldBuckets = await bounds(shield.adminUrl, 'flotilla_shield_request_seconds');
    expect(shieldBuckets).toContain('0.005');
    expect(shieldBuckets).toContain('0.01');
    expect(shieldBuckets.filter((b) => Number(b) < 0.01).length).toBeGreaterThanOrEqual(4);
    expect(shieldBuckets.at(-1)).toBe('+Inf');
    expect(await bounds(scheduler.adminUrl, 'flotilla_scheduler_dispatch_seconds')).toEqual(
      shieldBuckets,
    );
    const renders = await Promise.all(
      workers.map((w) => bounds(w, 'flotilla_worker_render_seconds')),
    );
    expect(renders.find((b) => b.length > 0)).toEqual(shieldBuckets);
  });
});

describe('alerting rules', () => {
  it('pass promtool check rules and promtool test rules', async () => {
    const check = await promtool(['check', 'rules', RULES]);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const test = await promtool(['test', 'rules', RULE_TESTS], PROMETHEUS_DIR);
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toContain('SUCCESS');
  });

  it('cover shedding, 5xx ratio, no ready workers, no autoscaler leader, NATS unreachable and stale pages, each tested', async () => {
    const rules = parseYaml(await readFile(RULES, 'utf8')) as Doc;
    const alerts = (rules.groups as Doc[]).flatMap((g) => g.rules as Doc[]).map((r) => r.alert);
    expect(alerts.sort()).toEqual([
      'FlotillaHigh5xxRatio',
      'FlotillaNatsUnreachable',
      'FlotillaNoAutoscalerLeader',
      'FlotillaNoReadyWorkers',
      'FlotillaServingStale',
      'FlotillaShedding',
    ]);
    const tests = parseYaml(await readFile(RULE_TESTS, 'utf8')) as Doc;
    const tested = (tests.tests as Doc[]).flatMap((t) => t.alert_rule_test as Doc[]);
    for (const alert of alerts) {
      // Each fires in some case and stays quiet in another.
      const cases = tested.filter((c) => c.alertname === alert);
      expect(
        cases.some((c) => (c.exp_alerts as Doc[]).length > 0),
        alert,
      ).toBe(true);
      expect(
        cases.some((c) => (c.exp_alerts as Doc[]).length === 0),
        alert,
      ).toBe(true);
    }
  });

  it('ship as a PrometheusRule with the same groups', async () => {
    const rules = parseYaml(await readFile(RULES, 'utf8')) as Doc;
    const resource = parseYaml(await readFile(PROMETHEUS_RULE, 'utf8')) as Doc;
    expect(resource.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(resource.kind).toBe('PrometheusRule');
    expect(resource.spec.groups).toEqual(rules.groups);
  });

  it('only name metrics the processes export, so a renamed metric fails here', async () => {
    const rules = parseYaml(await readFile(RULES, 'utf8')) as Doc;
    const exprs = (rules.groups as Doc[]).flatMap((g) => (g.rules as Doc[]).map((r) => r.expr));
    expect(exprs).toHaveLength(6);
    expect(unknownSeries(exprs)).toEqual([]);
    // The check itself catches a misspelt name.
    expect(unknownSeries(['rate(flotilla_scheduler_shed_totals[5m])'])).toEqual([
      'flotilla_scheduler_shed_totals',
    ]);
  });
});

/** Every value of every `expr` key in a JSON tree. */
function exprsIn(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(exprsIn);
  if (node && typeof node === 'object') {
    return Object.entries(node).flatMap(([k, v]) =>
      k === 'expr' && typeof v === 'string' ? [v] : exprsIn(v),
    );
  }
  return [];
}

/**
 * The expressions of a ```promql block: blank lines separate them, and a
 * line continues the previous one while parentheses are open or when it
 * starts with a binary operator.
 */
function promqlExpressions(block: string): string[] {
  const out: string[] = [];
  let current = '';
  const open = (s: string) => (s.match(/\(/g)?.length ?? 0) - (s.match(/\)/g)?.length ?? 0);
  for (const line of block.split('\n')) {
    const t = line.trim();
    if (t === '') {
      if (current) out.push(current);
      current = '';
    } else if (
      current &&
      (open(current) > 0 || /^([/*+\-)]|or\b|and\b|unless\b|>|<|==|!=)/.test(t))
    ) {
      current += `\n${line}`;
    } else {
      if (current) out.push(current);
      current = line;
    }
  }
  if (current) out.push(current);
  return out;
}

describe('dashboard and cookbook queries', () => {
  /** Grafana's variables replaced by values Prometheus accepts. */
  const concrete = (expr: string) =>
    expr
      .replace(/\$__(rate_interval|interval|range)/g, '5m')
      .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, 'test');

  async function queries(): Promise<Array<{ where: string; expr: string }>> {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Doc;
    const fromDashboard = exprsIn(dashboard.panels).map((expr) => ({
      where: 'deploy/grafana/flotilla-dashboard.json',
      expr: concrete(expr),
    }));
    const docs = await readFile(CATALOGUE, 'utf8');
    const fromDocs = [...docs.matchAll(/```promql\n([\s\S]*?)```/g)].flatMap((m) =>
      promqlExpressions(m[1] as string).map((expr) => ({ where: 'docs/metrics.md', expr })),
    );
    const keda = parseYaml(await readFile(KEDA, 'utf8')) as Doc;
    const fromKeda = (keda.spec.triggers as Doc[]).map((t) => ({
      where: 'deploy/kubernetes/keda-scaledobject.yaml',
      expr: t.metadata.query as string,
    }));
    return [...fromDashboard, ...fromDocs, ...fromKeda];
  }

  it('every one parses (promtool check rules on them as recording rules)', async () => {
    const all = await queries();
    expect(all.filter((q) => q.where.endsWith('.json')).length).toBeGreaterThan(20);
    expect(all.filter((q) => q.where.endsWith('.md')).length).toBeGreaterThan(30);
    const file = join(work, 'queries.rules.yml');
    const rules = all.map((q, i) => ({ record: `flotilla:query_${i}`, expr: q.expr }));
    await writeFile(file, JSON.stringify({ groups: [{ name: 'queries', rules }] }));
    const out = await promtool(['check', 'rules', file]);
    // promtool names the failing rule; map it back to where the query lives.
    const failing = [...(out.stdout + out.stderr).matchAll(/flotilla:query_(\d+)|rule (\d+)/g)]
      .map((m) => all[Number(m[1] ?? Number(m[2]) - 1)])
      .filter(Boolean);
    expect(out.code, `${out.stdout}${out.stderr}\n${JSON.stringify(failing, null, 2)}`).toBe(0);
    expect(out.stdout).toContain(`SUCCESS: ${all.length} rules found`);
  });

  it('name only metrics the processes export', async () => {
    const all = await queries();
    for (const where of new Set(all.map((q) => q.where))) {
      const exprs = all.filter((q) => q.where === where).map((q) => q.expr);
      expect(unknownSeries(exprs), where).toEqual([]);
    }
  });
});

describe('a real Prometheus scraping the fleet', () => {
  let prometheus: ChildHandle | undefined;
  let api = '';

  /** The vector of an instant query. */
  async function query(
    expr: string,
  ): Promise<Array<{ metric: Record<string, string>; value: number }>> {
    const res = await httpGet(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
    expect(res.status, res.body).toBe(200);
    const body = JSON.parse(res.body) as Doc;
    return (body.data.result as Doc[]).map((r) => ({
      metric: r.metric,
      value: Number(r.value[1]),
    }));
  }

  beforeAll(async () => {
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const schedulerHost = new URL(scheduler.adminUrl).host;
    // The shipped configuration, pointed at this fleet and sped up to 1 s.
    const config = (await readFile(PROMETHEUS_CONFIG, 'utf8'))
      .replace(/scrape_interval: 15s/, 'scrape_interval: 1s')
      .replace(/evaluation_interval: 15s/, 'evaluation_interval: 1s')
      .replaceAll('refresh_interval: 15s', 'refresh_interval: 1s')
      .replace('- flotilla-rules.yml', `- ${JSON.stringify(RULES)}`)
      .replace(
        /targets: \[.*\]/,
        `targets: ${JSON.stringify([new URL(shield.adminUrl).host, schedulerHost])}`,
      )
      .replaceAll('scheduler-1:9464', schedulerHost)
      .replaceAll('scheduler-2:9464', schedulerHost);
    const file = join(work, 'prometheus-live.yml');
    await writeFile(file, config);
    try {
      prometheus = await spawnProcess({
        command: process.env.FLOTILLA_PROMETHEUS ?? 'prometheus',
        args: [
          `--config.file=${file}`,
          `--storage.tsdb.path=${join(work, 'tsdb')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        name: 'prometheus',
        readyPattern: /Server is ready to receive web requests/,
        readyTimeoutMs: 60_000,
      });
    } catch (err) {
      throw new Error(
        `could not start prometheus (${(err as Error).message}): install Debian's prometheus package (apt-get install -y prometheus, as .ci/run does) or set FLOTILLA_PROMETHEUS`,
      );
    }
  }, 90_000);

  afterAll(async () => {
    await prometheus?.kill('SIGTERM');
  });

  it('discovers the workers through /http-sd and scrapes every process', async () => {
    await waitFor(
      async () => {
        const up = await query('up');
        const workers = up.filter((u) => u.metric.job === 'flotilla-workers' && u.value === 1);
        const roles = up.filter((u) => u.metric.job === 'flotilla' && u.value === 1);
        return workers.length === 2 && roles.length === 2;
      },
      {
        timeoutMs: 45_000,
        intervalMs: 500,
        message: 'Prometheus never scraped 2 workers and 2 roles',
      },
    );
    const workers = await query('up{job="flotilla-workers"}');
    for (const w of workers) {
      expect(w.metric).toMatchObject({ region: 'test', flotilla_role: 'worker' });
      expect(w.metric.worker_id).toMatch(/^w-[0-9a-f]+$/);
    }
    // The region label from http_sd makes per-region worker panels work.
    expect(await query('sum by (region) (flotilla_worker_capacity)')).toEqual([
      { metric: { region: 'test' }, value: expect.any(Number) },
    ]);
  }, 60_000);

  it("sees a counter's first event in increase(), because it was scraped at 0 before", async () => {
    const series = 'flotilla_shield_errors_total{code="FLOTILLA_ERR_NOT_FOUND"}';
    // Scraped at 0 at least twice before the first 404.
    await waitFor(
      async () => ((await query(`count_over_time(${series}[1m])`))[0]?.value ?? 0) >= 2,
      {
        timeoutMs: 30_000,
        intervalMs: 500,
        message: `Prometheus never held two samples of ${series}`,
      },
    );
    expect((await query(series)).map((r) => r.value)).toEqual([0]);
    expect((await httpGet(`${shield.url}/no-such-app/`)).status).toBe(404);
    await waitFor(async () => ((await query(`increase(${series}[1m])`))[0]?.value ?? 0) > 0, {
      timeoutMs: 30_000,
      intervalMs: 500,
      message:
        'increase() never saw the first error (a series that starts at 1 reads as no increase)',
    });
  }, 90_000);

  it('evaluates every alerting rule without errors, and none fires on a healthy fleet', async () => {
    await waitFor(
      async () => {
        const res = await httpGet(`${api}/api/v1/rules`);
        const rules = (JSON.parse(res.body) as Doc).data.groups.flatMap(
          (g: Doc) => g.rules,
        ) as Doc[];
        return rules.length === 6 && rules.every((r) => r.health === 'ok');
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'the rules never all evaluated ok' },
    );
    const alerts = JSON.parse((await httpGet(`${api}/api/v1/alerts`)).body) as Doc;
    expect(alerts.data.alerts).toEqual([]);
  }, 60_000);
});
