/**
 * Environment variables (secrets) must never cross from one render to
 * another it does not belong to. One worker with ONE render thread (so every
 * isolate below lives on the same thread) serves:
 *
 * - two tenants' deployments, each running a hostile bundle that stashes its
 *   secrets everywhere it can (globals, prototypes, the symbol registry,
 *   closures kept across renders, timers, errors) and then hunts for any
 *   secret reachable from its own realm;
 * - one deployment promoted to two environments, whose renders share an
 *   isolate: the runtime itself must leave no env where another render could
 *   find it (the bundle here uses env in closures, timers and errors, but
 *   does not copy it into module state itself).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeRenderResult,
  encodeRenderRequest,
  FlotillaError,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import {
  type BundleStore,
  DirectoryBundleStore,
  RenderWorker,
  type ResolvedBundle,
} from '@flotilla/workers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REGION = 'env-iso';
const subjects = regionSubjects(REGION);

/**
 * Walks everything reachable from the realm's global object (own properties
 * with symbol keys too, prototypes, functions' own properties; getters are
 * not called) and returns every string containing `secret-`, plus what the
 * bundle can reach by other means (the symbol registry, `Error` stacks).
 */
const HUNT = `
  const hunt = () => {
    const seen = new Set();
    const found = new Set();
    const walk = (value, depth) => {
      if (typeof value === 'string') { if (value.includes('secret-')) found.add(value); return; }
      if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return;
      if (seen.has(value) || depth > 8) return;
      seen.add(value);
      let keys = [];
      try { walk(Object.getPrototypeOf(value), depth + 1); keys = Reflect.ownKeys(value); } catch { return; }
      for (const key of keys) {
        if (typeof key === 'string' && key.includes('secret-')) found.add(key);
        let d;
        try { d = Object.getOwnPropertyDescriptor(value, key); } catch { continue; }
        if (d && 'value' in d) walk(d.value, depth + 1);
      }
    };
    walk(globalThis, 0);
    walk(globalThis[Symbol.for('flotilla.stash')], 0);
    try { walk(new Error('probe').stack, 0); } catch {}
    try { walk(typeof recall === 'function' ? recall() : undefined, 0); } catch {}
    return [...found].sort();
  };
`;

/**
 * The hostile tenant bundle. `/stash` puts the render's env everywhere;
 * `/hold` keeps a render (and its env) alive across a timer; `/throw` fails
 * with the secret in the error; `/late` leaves a timer that would publish
 * the secret after the render answered; `/probe` hunts for secrets and says
 * what its own env is.
 */
const HOSTILE = `
  ${HUNT}
  const remembered = [];
  let lastEnv;
  function recall() { return { remembered, lastEnv }; }
  globalThis.recall = recall;
  Flotilla.serve(async (req, env) => {
    const path = new URL(req.url).pathname;
    if (path === '/stash') {
      globalThis.stash = env;
      globalThis.stashList = (globalThis.stashList || []).concat(env.SECRET);
      Object.defineProperty(Object.prototype, '__stashed', { value: env, configurable: true });
      globalThis[Symbol.for('flotilla.stash')] = { env };
      remembered.push(env);
      lastEnv = env;
      globalThis.lastError = new Error(env.SECRET);
      try { Response.prototype.stash = env.SECRET; } catch {}
      try { Flotilla.stash = env.SECRET; } catch {}
      console.log('secret is', env.SECRET);
      // Tamper with the builtins the next renders' env might be built with.
      Object.freeze = (o) => o;
      Object.defineProperty(Object.prototype, 'SECRET', { get() { return env.SECRET; }, configurable: true });
      return new Response('stashed');
    }
    if (path === '/hold') {
      await new Promise((r) => setTimeout(r, 150));
      return new Response('held ' + env.SECRET);
    }
    if (path === '/throw') throw new Error('boom ' + env.SECRET);
    if (path === '/late') {
      setTimeout(() => { globalThis.late = env.SECRET; }, 20);
      return new Response('late');
    }
    return Response.json({
      own: Object.getOwnPropertyNames(env).map((k) => [k, env[k]]),
      frozen: Object.isFrozen(env),
      found: hunt(),
    });
  });
`;

/**
 * A bundle that uses env only within its renders (closures, timers, errors)
 * and never copies it into module state: what the runtime itself keeps.
 */
const WELL_BEHAVED = `
  ${HUNT}
  Flotilla.serve(async (req, env) => {
    const path = new URL(req.url).pathname;
    if (path === '/hold') {
      const keep = () => env.SECRET;
      await new Promise((r) => setTimeout(r, 150));
      return new Response('held ' + keep());
    }
    if (path === '/throw') {
      const err = new Error('boom ' + env.SECRET);
      err.env = env;
      throw err;
    }
    if (path === '/reject') return Promise.reject(env);
    if (path === '/late') {
      setTimeout(() => { globalThis.late = env.SECRET; }, 20);
      return new Response('late');
    }
    if (path === '/microtask') {
      queueMicrotask(() => { globalThis.micro = 'kept ' + typeof env; });
      return new Response('queued');
    }
    return Response.json({
      own: Object.getOwnPropertyNames(env).map((k) => [k, env[k]]),
      frozen: Object.isFrozen(env),
      found: hunt(),
      late: globalThis.late ?? null,
    });
  });
`;

const secret = (who: string) => `secret-${who}-${randomUUID()}`;
const SECRETS = {
  a: secret('tenant-a'),
  b: secret('tenant-b'),
  production: secret('production'),
  staging: secret('staging'),
};

/** The directory's deployments, plus each (deployment, environment)'s variables. */
class EnvStore implements BundleStore {
  readonly #inner: DirectoryBundleStore;
  readonly #vars: Record<string, Record<string, string>>;
  constructor(root: string, vars: Record<string, Record<string, string>>) {
    this.#inner = new DirectoryBundleStore(root);
    this.#vars = vars;
  }
  async resolve(deploymentId: string, environment?: string): Promise<ResolvedBundle> {
    const bundle = await this.#inner.resolve(deploymentId);
    if (environment === undefined) return bundle;
    const env = this.#vars[`${deploymentId}/${environment}`];
    if (!env)
      throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `no ${environment} for ${deploymentId}`);
    return { ...bundle, env };
  }
}

let root: string;
let transport: InProcessTransport;
let worker: RenderWorker;
const logs: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-env-isolation-'));
  const bundles: Record<string, string> = {
    'tenant-a': HOSTILE,
    'tenant-b': HOSTILE,
    shop: WELL_BEHAVED,
  };
  for (const [id, code] of Object.entries(bundles)) {
    await mkdir(join(root, id));
    await writeFile(join(root, id, 'bundle.js'), code);
    const bundleHash = createHash('sha256').update(code).digest('hex');
    await writeFile(join(root, id, 'manifest.json'), JSON.stringify({ bundleHash, routes: [] }));
  }
  transport = new InProcessTransport();
  worker = new RenderWorker({
    transport,
    region: REGION,
    bundles: new EnvStore(root, {
      'tenant-a/production': { SECRET: SECRETS.a, NAME: 'a' },
      'tenant-b/production': { SECRET: SECRETS.b, NAME: 'b' },
      'shop/production': { SECRET: SECRETS.production },
      'shop/staging': { SECRET: SECRETS.staging },
    }),
    workerId: 'w-env',
    // One thread: every deployment's isolate below shares it.
    threads: 1,
    tasksPerThread: 16,
    log: (line) => logs.push(JSON.stringify(line)),
  });
  await worker.start();
});

afterAll(async () => {
  await worker?.drain();
  await rm(root, { recursive: true, force: true });
});

function render(deploymentId: string, path: string, environment?: string): Promise<RenderResult> {
  const message = encodeRenderRequest({
    deploymentId,
    method: 'GET',
    url: `http://app.test${path}`,
    headers: [],
    body: new Uint8Array(0),
    deadline: Date.now() + 10_000,
    traceparent: '',
    requestId: randomUUID(),
    attempt: 1,
    ...(environment ? { environment } : {}),
  });
  return transport
    .request(subjects.workerRender(worker.workerId), message, { timeoutMs: 10_000 })
    .then(decodeRenderResult);
}

/** Everything a client could read from a result: status, headers, body, error. */
function visible(result: RenderResult): string {
  return result.ok
    ? `${result.status} ${JSON.stringify(result.headers)} ${new TextDecoder().decode(result.body)}`
    : `${result.error.code} ${result.error.message}`;
}

interface Probe {
  own: Array<[string, string]>;
  frozen: boolean;
  found: string[];
  late?: string | null;
}

async function probe(deploymentId: string, environment?: string): Promise<Probe> {
  const result = await render(deploymentId, '/probe', environment);
  if (!result.ok) throw new Error(`probe failed: ${result.error.code} ${result.error.message}`);
  return JSON.parse(new TextDecoder().decode(result.body)) as Probe;
}

describe('env isolation between two deployments on one thread', () => {
  it('a tenant that stashes its env everywhere finds only its own secret; the other never sees it', async () => {
    expect(visible(await render('tenant-a', '/stash', 'production'))).toContain('stashed');
    expect(visible(await render('tenant-b', '/stash', 'production'))).toContain('stashed');
    expect(worker.warm()).toEqual(['tenant-a', 'tenant-b']);

    const a = await probe('tenant-a', 'production');
    const b = await probe('tenant-b', 'production');
    // Each finds what it stashed itself (the hunt works)…
    expect(a.found).toContain(SECRETS.a);
    expect(b.found).toContain(SECRETS.b);
    // …and never the other tenant's secret.
    expect(a.found.join()).not.toContain(SECRETS.b);
    expect(b.found.join()).not.toContain(SECRETS.a);
    // Their own env is still theirs, frozen, despite the tampering with builtins.
    expect(a.own).toEqual([
      ['SECRET', SECRETS.a],
      ['NAME', 'a'],
    ]);
    expect(b.own).toEqual([
      ['SECRET', SECRETS.b],
      ['NAME', 'b'],
    ]);
    expect(a.frozen && b.frozen).toBe(true);
  });

  it('renders interleaved on the thread see only their own env: held renders, errors and late timers included', async () => {
    const held = render('tenant-a', '/hold', 'production');
    const thrown = render('tenant-a', '/throw', 'production');
    const late = render('tenant-a', '/late', 'production');
    const probes = await Promise.all(
      Array.from({ length: 6 }, () => probe('tenant-b', 'production')),
    );
    for (const p of probes) expect(p.found.join()).not.toContain(SECRETS.a);
    // Tenant A's own client gets A's answers (its error message is its own).
    expect(visible(await held)).toContain(`held ${SECRETS.a}`);
    expect(visible(await thrown)).toBe(`FLOTILLA_ERR_RENDER Error: boom ${SECRETS.a}`);
    expect(visible(await late)).toContain('late');
    // A's timer would have fired by now; B's realm still holds nothing of A's.
    await new Promise((r) => setTimeout(r, 60));
    const after = await probe('tenant-b', 'production');
    expect(after.found.join()).not.toContain(SECRETS.a);
    expect(after.own).toEqual([
      ['SECRET', SECRETS.b],
      ['NAME', 'b'],
    ]);
  });

  it('a preview render of a tenant (no environment) gets an empty env, and cannot reach its production env through the runtime', async () => {
    const preview = await probe('tenant-b');
    expect(preview.own).toEqual([]);
    expect(preview.frozen).toBe(true);
    // Only what the bundle itself stashed from an earlier production render.
    expect(preview.found.join()).not.toContain(SECRETS.a);
  });
});

describe('env isolation between two environments of one deployment (one shared isolate)', () => {
  it('each environment’s renders get their own env; the runtime leaves none on a global', async () => {
    const production = await probe('shop', 'production');
    const staging = await probe('shop', 'staging');
    expect(production.own).toEqual([['SECRET', SECRETS.production]]);
    expect(staging.own).toEqual([['SECRET', SECRETS.staging]]);
    expect(production.found).toEqual([]);
    expect(staging.found).toEqual([]);
  });

  it('a staging render running beside a production render holding its env in a closure finds nothing of it', async () => {
    const held = render('shop', '/hold', 'production');
    const probes = await Promise.all(Array.from({ length: 6 }, () => probe('shop', 'staging')));
    for (const p of probes) {
      expect(p.own).toEqual([['SECRET', SECRETS.staging]]);
      expect(p.found).toEqual([]);
    }
    expect(visible(await held)).toContain(`held ${SECRETS.production}`);
  });

  it('errors carrying env go to their own render’s caller only, and are kept nowhere', async () => {
    const thrown = await render('shop', '/throw', 'production');
    expect(visible(thrown)).toBe(`FLOTILLA_ERR_RENDER Error: boom ${SECRETS.production}`);
    // Rejecting with env itself: the bundle's choice, answered to its own caller.
    const rejected = await render('shop', '/reject', 'production');
    expect(visible(rejected)).toBe(
      `FLOTILLA_ERR_RENDER non-Error thrown: {"SECRET":"${SECRETS.production}"}`,
    );
    const staging = await probe('shop', 'staging');
    expect(staging.found).toEqual([]);
    expect(JSON.stringify(staging)).not.toContain(SECRETS.production);
  });

  it('a timer a production render leaves behind never runs, so it cannot publish its env to a later render', async () => {
    expect(visible(await render('shop', '/late', 'production'))).toContain('late');
    expect(visible(await render('shop', '/microtask', 'production'))).toContain('queued');
    await new Promise((r) => setTimeout(r, 80));
    const staging = await probe('shop', 'staging');
    expect(staging.late).toBeNull();
    expect(staging.found).toEqual([]);
  });

  it('never writes a secret to the worker log, except the errors a bundle threw with it', async () => {
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) {
      // Only the production renders above threw (or rejected with) their env.
      if (line.includes(SECRETS.production)) {
        expect(JSON.parse(line)).toMatchObject({ msg: 'render failed', deployment: 'shop' });
      }
      if (line.includes(SECRETS.a)) {
        expect(JSON.parse(line)).toMatchObject({ msg: 'render failed', deployment: 'tenant-a' });
      }
      expect(line).not.toContain(SECRETS.staging);
      expect(line).not.toContain(SECRETS.b);
    }
  });
});
