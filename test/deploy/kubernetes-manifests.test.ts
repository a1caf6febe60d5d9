/**
 * Checks the operator-facing artefacts against the code: the Kubernetes
 * manifests (deploy/kubernetes), the Grafana dashboard (deploy/grafana) and
 * the metric catalogue (docs/metrics.md). Every `flotilla_*` metric they name
 * must be registered somewhere in `* /src/**` (scanned at test time), and the
 * catalogue must list every registered metric.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseStartArgs } from '@flotilla/cli';
import { ERROR_CODES } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import {
  baseDocuments,
  baseFiles,
  componentOf,
  containerEnv,
  type Doc,
  filesUnder,
  K8S_DIR,
  ofKind as kindOf,
  ROOT,
  resolvedArgs as resolvedArgsOf,
  roleOf,
  workloadsOf,
} from './k8s-documents.ts';

const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'flotilla-dashboard.json');
const CATALOGUE = join(ROOT, 'docs', 'metrics.md');

/** Metric kinds registered in the code, by name: `name: 'flotilla_…'` in `* /src/**` (tests excluded). */
function registeredMetrics(): Map<string, string> {
  const metrics = new Map<string, string>();
  for (const pkg of readdirSync(ROOT)) {
    const src = join(ROOT, pkg, 'src');
    if (pkg.startsWith('.') || pkg === 'node_modules') continue;
    if (!statSync(join(ROOT, pkg)).isDirectory()) continue;
    try {
      if (!statSync(src).isDirectory()) continue;
    } catch {
      continue;
    }
    const sources = filesUnder(src, (n) => n.endsWith('.ts') && !n.endsWith('.test.ts'));
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      const re = /new (Counter|Gauge|Histogram|Summary)\(\{\s*name:\s*'(flotilla_[a-z0-9_]+)'/g;
      for (const m of text.matchAll(re))
        metrics.set(m[2] as string, (m[1] as string).toLowerCase());
      // A name registered through a helper (`counter(registry, 'flotilla_…'`).
      const helper = /\b(counter|gauge|histogram)\(\s*[\w.#]+,\s*'(flotilla_[a-z0-9_]+)'/g;
      for (const m of text.matchAll(helper)) metrics.set(m[2] as string, m[1] as string);
      // A name registered some other way still counts (kind unknown).
      for (const m of text.matchAll(/name(?::|\s*=)\s*'(flotilla_[a-z0-9_]+)'/g)) {
        if (!metrics.has(m[1] as string)) metrics.set(m[1] as string, 'unknown');
      }
    }
  }
  return metrics;
}

const REGISTERED = registeredMetrics();

/**
 * The registered metric a series name refers to: itself, or for a histogram
 * (or summary) its `_bucket` / `_sum` / `_count` series. `undefined` when
 * none.
 */
function resolveSeries(series: string): string | undefined {
  if (REGISTERED.has(series)) return series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  if (!m) return undefined;
  const base = m[1] as string;
  const kind = REGISTERED.get(base);
  if (kind === 'histogram' || kind === 'unknown') return base;
  if (kind === 'summary' && m[2] !== 'bucket') return base;
  return undefined;
}

/** `flotilla_*` series names referenced by a PromQL expression (string literals skipped). */
function seriesIn(expr: string): string[] {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  return [...withoutStrings.matchAll(/\bflotilla_[a-zA-Z0-9_]+\b/g)].map((m) => m[0]);
}

function unknownSeries(exprs: string[]): string[] {
  return [...new Set(exprs.flatMap(seriesIn))].filter((s) => resolveSeries(s) === undefined);
}

const DOCS = baseDocuments();
const ofKind = (kind: string) => kindOf(DOCS, kind);
/** Every Deployment and StatefulSet: the workloads that run a role. */
const DEPLOYMENTS = workloadsOf(DOCS);
const resolvedArgs = (container: Doc) => resolvedArgsOf(DOCS, container);

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

describe('metrics registered in the code', () => {
  it('finds the known metrics of every process', () => {
    for (const name of [
      'flotilla_shield_requests_total',
      'flotilla_scheduler_in_flight',
      'flotilla_worker_render_seconds',
    ]) {
      expect(REGISTERED.has(name), name).toBe(true);
    }
    expect(REGISTERED.get('flotilla_worker_render_seconds')).toBe('histogram');
  });
});

describe('Kubernetes manifests', () => {
  it('parses every file and lists every file in kustomization.yaml', () => {
    const files = baseFiles().map((f) => relative(K8S_DIR, f));
    const kustomization = ofKind('Kustomization')[0];
    expect(kustomization).toBeDefined();
    const listed = [...(kustomization?.resources ?? [])].sort();
    expect(listed).toEqual(files.filter((f) => f !== 'kustomization.yaml').sort());
  });

  it('has a workload, a Service and a PodDisruptionBudget for every role and cache tier', () => {
    expect(DEPLOYMENTS.map(componentOf).sort()).toEqual([
      'control',
      'scheduler',
      'shield',
      'shield-global',
      'worker',
    ]);
    const services = ofKind('Service');
    const pdbs = ofKind('PodDisruptionBudget');
    for (const d of DEPLOYMENTS) {
      const selector = d.spec.selector.matchLabels;
      expect(d.spec.template.metadata.labels).toMatchObject(selector);
      const matches = (labels: Doc) =>
        Object.entries(labels).every(([k, v]) => d.spec.template.metadata.labels[k] === v);
      expect(
        services.some((s) => matches(s.spec.selector)),
        `${d.metadata.name} Service`,
      ).toBe(true);
      const pdb = pdbs.find((p) => matches(p.spec.selector.matchLabels));
      expect(pdb, `${d.metadata.name} PDB`).toBeDefined();
      const budget = pdb?.spec.minAvailable ?? pdb?.spec.maxUnavailable;
      expect(budget).toBe(1);
    }
  });

  it('runs every role duplicated, with readiness on /healthz, a preStop hook and a drain grace period', () => {
    for (const d of DEPLOYMENTS) {
      const name = d.metadata.name;
      expect(d.spec.replicas, name).toBeGreaterThanOrEqual(2);
      const pod = d.spec.template.spec;
      expect(pod.containers, name).toHaveLength(1);
      const c = pod.containers[0];
      expect(c.readinessProbe?.httpGet?.path, name).toBe('/healthz');
      const readinessPort = c.readinessProbe.httpGet.port;
      expect(
        c.ports.some((p: Doc) => p.name === readinessPort || p.containerPort === readinessPort),
      ).toBe(true);
      // Liveness must not depend on NATS or draining: never /healthz.
      expect(c.livenessProbe, name).toBeDefined();
      expect(c.livenessProbe.httpGet?.path, name).not.toBe('/healthz');
      const preStop = c.lifecycle?.preStop;
      expect(preStop, name).toBeDefined();
      const pause = preStop.sleep?.seconds ?? 0;
      // The drain (after the preStop pause) needs at least the 10 s request deadline.
      expect(pod.terminationGracePeriodSeconds, name).toBeGreaterThanOrEqual(pause + 10);
    }
  });

  it('runs the kustomization’s image, probes the ports the role listens on, and writes only /tmp and volumes', () => {
    const [kustomization] = ofKind('Kustomization');
    const images = (kustomization?.images ?? []).map((i: Doc) => i.name);
    for (const d of DEPLOYMENTS) {
      const name = d.metadata.name;
      const c = d.spec.template.spec.containers[0];
      // `images:` in kustomization.yaml retags it: it must name the image the pods run.
      expect(images, name).toContain(String(c.image).split(':')[0]);
      const declared = (port: unknown) =>
        c.ports.some((p: Doc) => p.name === port || p.containerPort === port);
      const startupPort = c.startupProbe?.tcpSocket?.port ?? c.startupProbe?.httpGet?.port;
      expect(declared(startupPort), `${name} startup probe`).toBe(true);
      expect(c.livenessProbe.httpGet.path, name).toBe('/livez');
      expect(c.livenessProbe.httpGet.port, name).toBe(c.readinessProbe.httpGet.port);
      expect(c.securityContext.readOnlyRootFilesystem, name).toBe(true);
      expect(d.spec.template.spec.securityContext.runAsNonRoot, name).toBe(true);
      const tmp = c.volumeMounts.find((m: Doc) => m.mountPath === '/tmp');
      const volume = d.spec.template.spec.volumes.find((v: Doc) => v.name === tmp?.name);
      expect(volume?.emptyDir, `${name} /tmp`).toBeDefined();
    }
  });

  it('starts every role with the isolate-host Node flags and arguments the CLI accepts', () => {
    for (const d of DEPLOYMENTS) {
      const c = d.spec.template.spec.containers[0];
      const role = roleOf(d);
      expect(c.command).toEqual(['node']);
      const args = resolvedArgs(c);
      const script = args.indexOf('cli/src/bin.ts');
      expect(script, d.metadata.name).toBeGreaterThan(0);
      const nodeFlags = args.slice(0, script);
      if (role === 'worker') expect(nodeFlags).toContain('--no-node-snapshot');
      expect(nodeFlags).toEqual([
        '--no-node-snapshot',
        '--max-semi-space-size=16',
        '--initial-old-space-size=64',
      ]);
      expect(args[script + 1]).toBe('start');
      const parsed = parseStartArgs(args.slice(script + 2), containerEnv(DOCS, c));
      expect(parsed.role).toBe(role);
      expect(parsed.nats).toMatch(/^nats:\/\//);
      expect(parsed.options.host).toBe('0.0.0.0');
      const probePort = (port: unknown) =>
        typeof port === 'number' ? port : c.ports.find((p: Doc) => p.name === port)?.containerPort;
      const listens = role === 'shield' ? parsed.options.port : parsed.options.adminPort;
      expect(probePort(c.readinessProbe.httpGet.port), d.metadata.name).toBe(listens);
      if (role === 'worker') {
        // Size the pool to the pod, not to the node's CPU count.
        expect(parsed.options.threads).toBeGreaterThan(0);
        expect(c.resources.limits.memory).toBeDefined();
      }
    }
  });

  it("scrapes /metrics on the admin port of every role, never on the shield's traffic port", () => {
    const [monitor] = ofKind('PodMonitor');
    const endpoints = monitor?.spec.podMetricsEndpoints ?? [];
    expect(endpoints.map((e: Doc) => [e.port, e.path])).toEqual([['admin', '/metrics']]);
    for (const d of DEPLOYMENTS) {
      const c = d.spec.template.spec.containers[0];
      const args = resolvedArgs(c);
      const parsed = parseStartArgs(
        args.slice(args.indexOf('cli/src/bin.ts') + 2),
        containerEnv(DOCS, c),
      );
      const admin = c.ports.find((p: Doc) => p.name === 'admin');
      expect(admin?.containerPort, d.metadata.name).toBe(parsed.options.adminPort);
    }
    // No Service exposes an admin port.
    for (const svc of ofKind('Service')) {
      if (svc.metadata.name === 'flotilla-shield') {
        expect(svc.spec.ports.map((p: Doc) => p.targetPort)).toEqual(['http']);
      }
    }
  });

  it('scales workers with KEDA on the desired-workers metric, replicas = desired', () => {
    const [scaled] = ofKind('ScaledObject');
    expect(scaled).toBeDefined();
    const worker = DEPLOYMENTS.find((d) => roleOf(d) === 'worker');
    expect(scaled?.spec.scaleTargetRef.name).toBe(worker?.metadata.name);
    expect(scaled?.spec.minReplicaCount).toBeGreaterThanOrEqual(2);
    const [trigger] = scaled?.spec.triggers ?? [];
    expect(trigger.type).toBe('prometheus');
    // AverageValue: replicas = ceil(value / threshold); Value would multiply by the current count.
    expect(trigger.metricType ?? 'AverageValue').toBe('AverageValue');
    expect(trigger.metadata.threshold).toBe('1');
    const region = ofKind('ConfigMap')[0]?.data.REGION;
    expect(trigger.metadata.query).toBe(
      `max(flotilla_autoscaler_desired_workers{region="${region}"})`,
    );
    expect(unknownSeries([trigger.metadata.query])).toEqual([]);
  });

  it('labels every pod with the ConfigMap region', () => {
    const region = ofKind('ConfigMap')[0]?.data.REGION;
    for (const d of DEPLOYMENTS) {
      expect(d.spec.template.metadata.labels['flotilla.dev/region']).toBe(region);
    }
  });
});

/** A Kubernetes quantity (`512Mi`, `1Gi`, `10Gi`) in MiB. */
function mib(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!m) throw new Error(`unexpected quantity ${quantity}`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

describe('the cache tiers on Kubernetes', () => {
  const parsedStart = (w: Doc) => {
    const c = w.spec.template.spec.containers[0];
    const args = resolvedArgs(c);
    return parseStartArgs(args.slice(args.indexOf('cli/src/bin.ts') + 2), containerEnv(DOCS, c));
  };
  /** The cache options a shield workload starts with (none given: the defaults). */
  const cacheOf = (w: Doc) => {
    const cache = parsedStart(w).options.cache;
    return cache === false ? undefined : cache;
  };
  const edge = DEPLOYMENTS.find((w) => componentOf(w) === 'shield') as Doc;
  const global = DEPLOYMENTS.find((w) => componentOf(w) === 'shield-global') as Doc;

  it('runs edges behind the traffic Service and global members behind none', () => {
    expect(edge.kind).toBe('Deployment');
    expect(parsedStart(edge).options.tier).toBe('edge');
    expect(parsedStart(global).options.tier).toBe('global');
    const traffic = ofKind('Service').find((s) => s.metadata.name === 'flotilla-shield') as Doc;
    const selects = (w: Doc) =>
      Object.entries(traffic.spec.selector).every(
        ([k, v]) => w.spec.template.metadata.labels[k] === v,
      );
    expect(selects(edge)).toBe(true);
    expect(selects(global)).toBe(false);
    // The global tier's own Service is the StatefulSet's headless one.
    const governing = ofKind('Service').find((s) => s.metadata.name === global.spec.serviceName);
    expect(governing?.spec.clusterIP).toBe('None');
  });

  it('keeps each global member its name and its disk cache across restarts', () => {
    expect(global.kind).toBe('StatefulSet');
    const c = global.spec.template.spec.containers[0];
    // --shield-id is the pod's own name, so a restarted member owns the same keys.
    const args = c.args as string[];
    expect(args[args.indexOf('--shield-id') + 1]).toBe('$(POD_NAME)');
    expect(c.env.find((e: Doc) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe(
      'metadata.name',
    );
    expect(parsedStart(global).options.shieldId).toBe('shield-0');
    const disk = cacheOf(global)?.disk;
    const dir = disk?.dir as string;
    expect(dir).toBeDefined();
    // On a claim of its own (not an emptyDir, which a restart empties).
    const mount = c.volumeMounts.find((m: Doc) => m.mountPath === dir);
    expect(mount, `${dir} is mounted`).toBeDefined();
    expect((global.spec.template.spec.volumes as Doc[]).some((v) => v.name === mount.name)).toBe(
      false,
    );
    const claim = (global.spec.volumeClaimTemplates as Doc[]).find(
      (t) => t.metadata.name === mount.name,
    );
    expect(claim?.spec.accessModes).toEqual(['ReadWriteOnce']);
    // Room for --cache-disk-mb and the files being written beside it.
    const diskMb = (disk?.maxBytes ?? 1024 * 1024 * 1024) / 1024 / 1024;
    expect(mib(claim?.spec.resources.requests.storage)).toBeGreaterThanOrEqual(diskMb * 1.1);
  });

  it('gives every shield a memory limit its --cache-mb fits in', () => {
    for (const w of [edge, global]) {
      const c = w.spec.template.spec.containers[0];
      const cacheMb = (cacheOf(w)?.maxBytes ?? 256 * 1024 * 1024) / 1024 / 1024;
      // deploy/README.md, "Memory": about 120 MiB plus up to 1.5x --cache-mb.
      expect(mib(c.resources.limits.memory), w.metadata.name).toBeGreaterThanOrEqual(
        120 + 1.5 * cacheMb,
      );
    }
  });
});

describe('Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Doc;

  it('has the datasource and region variables', () => {
    const vars = new Map((dashboard.templating.list as Doc[]).map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const region = vars.get('region');
    expect(region?.definition).toBe('label_values(flotilla_shield_requests_total, region)');
    expect(unknownSeries([region?.definition])).toEqual([]);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(39);
  });

  it('only queries metrics registered in the code', () => {
    const exprs = exprsIn(dashboard.panels);
    expect(exprs.length).toBeGreaterThan(20);
    expect(unknownSeries(exprs)).toEqual([]);
  });

  it('uses the datasource variable in every panel and query', () => {
    // Grafana's variable syntax, not a template literal.
    const uid = ['$', '{datasource}'].join('');
    for (const panel of dashboard.panels as Doc[]) {
      if (panel.type === 'row') continue;
      expect(panel.datasource?.uid, panel.title).toBe(uid);
      for (const t of panel.targets) expect(t.datasource?.uid, panel.title).toBe(uid);
    }
  });

  it('shows the panels the issue asks for', () => {
    const all = exprsIn(dashboard.panels).join('\n');
    for (const series of [
      'flotilla_worker_render_seconds_bucket',
      'flotilla_shield_request_seconds_bucket',
      'flotilla_scheduler_in_flight',
      'flotilla_scheduler_capacity',
      'flotilla_scheduler_queue_depth',
      'flotilla_scheduler_shed_total',
      'flotilla_autoscaler_desired_workers',
      'flotilla_autoscaler_ready_workers',
      'flotilla_autoscaler_panic',
      'flotilla_worker_cold_starts_total',
      'flotilla_scheduler_retries_total',
      'flotilla_shield_failovers_total',
      'flotilla_shield_errors_total',
      'flotilla_worker_live_isolates',
      'flotilla_worker_isolate_heap_bytes',
    ]) {
      expect(all, series).toContain(series);
    }
  });

  it('lays panels out without overlaps', () => {
    const cells = new Set<string>();
    for (const p of dashboard.panels as Doc[]) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, p.title).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps at ${i},${j}`).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
    }
    const ids = (dashboard.panels as Doc[]).map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('docs/metrics.md', () => {
  const text = readFileSync(CATALOGUE, 'utf8');
  const catalogued = [...text.matchAll(/^\|\s*`(flotilla_[a-z0-9_]+)`\s*\|/gm)].map(
    (m) => m[1] as string,
  );

  it('catalogues every registered metric exactly once', () => {
    expect(new Set(catalogued).size).toBe(catalogued.length);
    expect([...catalogued].sort()).toEqual([...REGISTERED.keys()].sort());
  });

  it('names only registered metrics, in its tables and its PromQL', () => {
    expect(unknownSeries([text])).toEqual([]);
    const promql = [...text.matchAll(/```promql\n([\s\S]*?)```/g)].map((m) => m[1] as string);
    expect(promql.length).toBeGreaterThan(10);
  });

  it('gives the type registered in the code for every metric', () => {
    for (const m of text.matchAll(/^\|\s*`(flotilla_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|/gm)) {
      const kind = REGISTERED.get(m[1] as string);
      if (kind !== 'unknown') expect(m[2], m[1]).toBe(kind);
    }
  });

  it('lists every error code with its status and kind', () => {
    for (const [code, info] of Object.entries(ERROR_CODES)) {
      const row = new RegExp(
        `^\\|\\s*\`${code}\`\\s*\\|\\s*(\\d+)\\s*\\|\\s*(\\w+)\\s*\\|`,
        'm',
      ).exec(text);
      expect(row, code).not.toBeNull();
      expect(Number(row?.[1]), code).toBe(info.status);
      expect(row?.[2], code).toBe(info.kind);
    }
  });
});
