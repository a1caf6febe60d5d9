/**
 * Reads Prometheus metrics the way a scraper sees them: from a process's
 * `/metrics` page, or from a prom-client `Registry` in this process (its
 * text exposition, the same format).
 *
 * @module
 */
import { httpGet } from './http.ts';

/**
 * Where metrics come from: the base URL of a process serving `/metrics`
 * (`http://127.0.0.1:39123`), or anything with prom-client's
 * `metrics(): Promise<string>` (a `Registry`).
 */
export type MetricSource = string | { metrics(): Promise<string> };

/** One series of a metric: its labels and current value. */
export interface MetricSample {
  /** Label names to (unescaped) values; `{}` for a series without labels. */
  labels: Record<string, string>;
  value: number;
}

/** How long reading a `/metrics` page over HTTP may take. */
const SCRAPE_TIMEOUT_MS = 5000;

/** `name{labels} value`: the labels block may hold quoted `}` and escaped quotes. */
const SAMPLE_LINE = /^([a-zA-Z_:][\w:]*)(?:\{((?:[^"}]|"(?:[^"\\]|\\.)*")*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_]\w*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;

async function exposition(source: MetricSource): Promise<string> {
  if (typeof source !== 'string') return source.metrics();
  const url = `${source.replace(/\/$/, '')}/metrics`;
  const { status, body } = await httpGet(url, { timeoutMs: SCRAPE_TIMEOUT_MS });
  if (status !== 200) throw new Error(`GET ${url} answered ${status}: ${body.slice(0, 200)}`);
  return body;
}

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(text);
}

/**
 * Every series of metric `name` in `source`, in exposition order; `[]` for a
 * metric that is registered (its `# TYPE` line is there) but has no series
 * yet. A histogram's series are named on their own (`…_bucket`, `…_sum`,
 * `…_count`).
 *
 * @throws Error when `source` does not know the metric at all (a typo, or a
 * metric that was never registered).
 */
export async function metricSamples(source: MetricSource, name: string): Promise<MetricSample[]> {
  const samples: MetricSample[] = [];
  const family = name.replace(/_(bucket|sum|count)$/, '');
  let known = false;
  for (const line of (await exposition(source)).split('\n')) {
    if (line.startsWith('# TYPE ')) {
      const typed = line.split(' ')[2];
      if (typed === name || typed === family) known = true;
      continue;
    }
    const m = SAMPLE_LINE.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(LABEL)) {
      if (key !== undefined && value !== undefined) labels[key] = unescapeLabel(value);
    }
    samples.push({ labels, value: parseValue(m[3] ?? '') });
  }
  if (!known && samples.length === 0) {
    throw new Error(`no metric ${name} in ${typeof source === 'string' ? source : 'the registry'}`);
  }
  return samples;
}

/**
 * The sum of metric `name` over the series that carry every label of
 * `labels` (all series when `labels` is empty); 0 when none does (a counter
 * not incremented yet).
 *
 * @throws Error when `source` does not know the metric at all.
 *
 * @example
 * await metricValue(worker.url, 'flotilla_worker_renders_total');
 * await metricValue(registry, 'flotilla_shield_cache_evictions_total', { reason: 'size' });
 */
export async function metricValue(
  source: MetricSource,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  let sum = 0;
  for (const sample of await metricSamples(source, name)) {
    if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) sum += sample.value;
  }
  return sum;
}
