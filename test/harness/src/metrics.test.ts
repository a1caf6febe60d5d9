import { describe, expect, it } from 'vitest';
import { listen } from './http.ts';
import { metricSamples, metricValue } from './metrics.ts';

const EXPOSITION = `# HELP flotilla_worker_renders_total Renders.
# TYPE flotilla_worker_renders_total counter
flotilla_worker_renders_total{deployment="shop",outcome="ok"} 3
flotilla_worker_renders_total{deployment="shop",outcome="FLOTILLA_ERR_CPU_LIMIT"} 1
flotilla_worker_renders_total{deployment="odd \\"name\\" {x}",outcome="ok"} 2
# HELP flotilla_shield_cache_entries Entries.
# TYPE flotilla_shield_cache_entries gauge
flotilla_shield_cache_entries 0
# HELP flotilla_shield_retries_total Retries.
# TYPE flotilla_shield_retries_total counter
# HELP flotilla_worker_render_seconds Render time.
# TYPE flotilla_worker_render_seconds histogram
flotilla_worker_render_seconds_bucket{le="0.1",deployment="shop"} 2
flotilla_worker_render_seconds_bucket{le="+Inf",deployment="shop"} 3
flotilla_worker_render_seconds_sum{deployment="shop"} 0.25
flotilla_worker_render_seconds_count{deployment="shop"} 3
`;

const registry = { metrics: async () => EXPOSITION };

describe('metricValue / metricSamples', () => {
  it('sums the series that carry every given label', async () => {
    expect(await metricValue(registry, 'flotilla_worker_renders_total')).toBe(6);
    expect(await metricValue(registry, 'flotilla_worker_renders_total', { outcome: 'ok' })).toBe(5);
    expect(
      await metricValue(registry, 'flotilla_worker_renders_total', {
        deployment: 'shop',
        outcome: 'ok',
      }),
    ).toBe(3);
    expect(await metricValue(registry, 'flotilla_worker_renders_total', { deployment: 'x' })).toBe(
      0,
    );
  });

  it('unescapes label values, and reads histogram series by their own names', async () => {
    const odd = await metricSamples(registry, 'flotilla_worker_renders_total');
    expect(odd.map((s) => s.labels.deployment)).toContain('odd "name" {x}');
    expect(await metricValue(registry, 'flotilla_worker_render_seconds_count')).toBe(3);
    expect(await metricSamples(registry, 'flotilla_worker_render_seconds_bucket')).toContainEqual({
      labels: { le: '+Inf', deployment: 'shop' },
      value: 3,
    });
  });

  it('reads a registered metric without series as 0, and refuses one the source lacks', async () => {
    expect(await metricValue(registry, 'flotilla_shield_retries_total')).toBe(0);
    expect(await metricSamples(registry, 'flotilla_shield_retries_total')).toEqual([]);
    expect(await metricValue(registry, 'flotilla_shield_cache_entries')).toBe(0);
    await expect(metricValue(registry, 'flotilla_no_such_metric')).rejects.toThrow(
      'no metric flotilla_no_such_metric in the registry',
    );
  });

  it('scrapes <url>/metrics over HTTP', async () => {
    const server = await listen((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      res.end(EXPOSITION);
    });
    try {
      expect(await metricValue(server.url, 'flotilla_worker_renders_total')).toBe(6);
      expect(await metricValue(`${server.url}/`, 'flotilla_worker_renders_total')).toBe(6);
    } finally {
      await server.close();
    }
  });
});
