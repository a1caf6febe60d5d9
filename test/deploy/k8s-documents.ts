/**
 * The Kubernetes manifests of deploy/kubernetes as the manifest suites read
 * them: every YAML document, the container arguments with `$(VAR)`
 * references resolved, and the kustomize Components applied the way
 * kustomize applies their JSON 6902 patches.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const K8S_DIR = join(ROOT, 'deploy', 'kubernetes');
/** Kustomize Components (optional parts an overlay adds), one directory each. */
export const COMPONENTS_DIR = join(K8S_DIR, 'components');

// biome-ignore lint/suspicious/noExplicitAny: parsed YAML/JSON documents are untyped trees.
export type Doc = Record<string, any>;

/** Every file under `dir` (recursively) whose name passes `keep`. */
export function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, keep));
    else if (keep(name)) out.push(path);
  }
  return out;
}

/** Every YAML document of `file`; throws naming the file on a parse error. */
export function yamlDocuments(file: string): Doc[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).flatMap((d) => {
    if (d.errors.length > 0) {
      throw new Error(`${relative(ROOT, file)}: ${d.errors.join('; ')}`);
    }
    const doc = d.toJS() as Doc | null;
    return doc ? [doc] : [];
  });
}

/** The YAML files of the base (deploy/kubernetes without its components). */
export function baseFiles(): string[] {
  return filesUnder(K8S_DIR, (n) => /\.ya?ml$/.test(n)).filter(
    (f) => !f.startsWith(`${COMPONENTS_DIR}/`),
  );
}

/** Every document of the base. */
export function baseDocuments(): Doc[] {
  return baseFiles().flatMap(yamlDocuments);
}

/** The documents of `docs` of kind `kind`. */
export function ofKind(docs: Doc[], kind: string): Doc[] {
  return docs.filter((d) => d.kind === kind);
}

/** The Deployments and StatefulSets of `docs`: every workload that runs a role. */
export function workloadsOf(docs: Doc[]): Doc[] {
  return docs.filter((d) => d.kind === 'Deployment' || d.kind === 'StatefulSet');
}

/** A workload's `app.kubernetes.io/component` label (`shield`, `shield-global`, `worker`, …). */
export function componentOf(workload: Doc): string {
  return workload.spec.template.metadata.labels['app.kubernetes.io/component'];
}

/** The role a workload runs (`flotilla start --role`): its component without a tier (`shield-global` → `shield`). */
export function roleOf(workload: Doc): string {
  return componentOf(workload).split('-')[0] as string;
}

/**
 * A container's environment, values from the ConfigMaps of `docs` resolved,
 * and the pod's name (`fieldRef: metadata.name`) as `podName` (by default
 * the first pod a StatefulSet of the container's name would make).
 */
export function containerEnv(
  docs: Doc[],
  container: Doc,
  podName = `${container.name}-0`,
): Record<string, string> {
  const configMaps = new Map(ofKind(docs, 'ConfigMap').map((c) => [c.metadata.name, c.data]));
  const env: Record<string, string> = {};
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.configMapKeyRef;
    const field = e.valueFrom?.fieldRef?.fieldPath;
    const value = ref
      ? configMaps.get(ref.name)?.[ref.key]
      : field === 'metadata.name'
        ? podName
        : e.value;
    if (typeof value === 'string') env[e.name] = value;
  }
  return env;
}

/** Container args with `$(VAR)` references resolved from the container's environment. */
export function resolvedArgs(docs: Doc[], container: Doc): string[] {
  const env = containerEnv(docs, container);
  return (container.args as string[]).map((a) =>
    a.replace(/\$\(([A-Z_][A-Z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole),
  );
}

/** What comes after `cli/src/bin.ts start` in a container's resolved args. */
export function startArgs(docs: Doc[], container: Doc): string[] {
  const args = resolvedArgs(docs, container);
  const script = args.indexOf('cli/src/bin.ts');
  if (script < 0 || args[script + 1] !== 'start') {
    throw new Error(`${container.name}: not \`cli/src/bin.ts start …\`: ${args.join(' ')}`);
  }
  return args.slice(script + 2);
}

/** A JSON 6902 operation, as kustomize patches give them. */
interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
}

/** Applies `add` / `replace` operations to a copy of `doc` (what Components use). */
function applyPatch(doc: Doc, ops: PatchOp[]): Doc {
  const out = structuredClone(doc);
  for (const { op, path, value } of ops) {
    const keys = path
      .split('/')
      .slice(1)
      .map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = keys.pop() as string;
    // biome-ignore lint/suspicious/noExplicitAny: walking an untyped tree.
    let node: any = out;
    for (const k of keys) {
      node = node?.[Array.isArray(node) ? Number(k) : k];
      if (node === undefined) throw new Error(`patch ${op} ${path}: no ${k}`);
    }
    if (op === 'add' && Array.isArray(node)) {
      if (last === '-') node.push(value);
      else node.splice(Number(last), 0, value);
    } else if (op === 'add' || (op === 'replace' && last in node)) {
      node[last] = value;
    } else {
      throw new Error(`patch ${op} ${path}: not supported here or no such field`);
    }
  }
  return out;
}

/**
 * `docs` with Component `component` (a directory under components/)
 * applied: each patch to the documents its target selects (kind and name).
 */
export function withComponent(docs: Doc[], component: string): Doc[] {
  const [kustomization] = yamlDocuments(join(COMPONENTS_DIR, component, 'kustomization.yaml'));
  if (kustomization?.kind !== 'Component') throw new Error(`${component} is not a Component`);
  let out = docs;
  for (const { target, patch } of kustomization.patches as Doc[]) {
    const ops = parse(patch) as PatchOp[];
    const selected = (d: Doc) =>
      d.kind === target.kind && (target.name === undefined || d.metadata?.name === target.name);
    if (!out.some(selected))
      throw new Error(`${component}: no ${target.kind} ${target.name ?? ''}`);
    out = out.map((d) => (selected(d) ? applyPatch(d, ops) : d));
  }
  return out;
}

/**
 * The Secrets deploy/README.md has the operator create (its `kubectl -n
 * flotilla create secret generic <name> --from-file=…` lines): name → key →
 * file, relative files resolved in `dir` when given.
 */
export function readmeSecrets(dir?: string): Map<string, Map<string, string>> {
  const text = readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8');
  const out = new Map<string, Map<string, string>>();
  for (const m of text.matchAll(
    /^kubectl -n flotilla create secret generic (\S+)((?: --from-file=\S+)+)\s*$/gm,
  )) {
    const keys = new Map<string, string>();
    for (const [, spec] of (m[2] as string).matchAll(/--from-file=(\S+)/g)) {
      const [key, file] = (spec as string).includes('=')
        ? ((spec as string).split('=', 2) as [string, string])
        : [basename(spec as string), spec as string];
      keys.set(key, dir === undefined ? file : resolve(dir, file));
    }
    out.set(m[1] as string, keys);
  }
  return out;
}
