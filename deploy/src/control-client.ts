/**
 * The control service's client: the {@link ControlPlane} methods the CLI
 * uses, each one request on `flotilla.control.<app>.<verb>`, so that a
 * credential that may not touch an app is refused by nats-server itself.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import {
  CONTROL_FLEET_APP,
  controlSubject,
  FlotillaError,
  isSubjectToken,
  nonEmptyString,
  type PurgeSelector,
  positiveInt,
  REDIRECT_BATCH_ROWS,
  required,
} from '@flotilla/protocol';
import { errors, type NatsConnection } from '@nats-io/nats-core';
import type { ControlPlane } from './control-plane.ts';
import {
  CONTROL_VERBS,
  type ControlArgs,
  type ControlVerb,
  decodeReply,
  UPLOAD_CHUNK_BYTES,
} from './control-verbs.ts';
import type { EnvironmentPatch, SecretRewraps } from './environment-patch.ts';
import { checkManifest } from './manifest-check.ts';
import {
  type BuildOutput,
  checkBundleCap,
  type PublishOptions,
  type PublishResult,
} from './publish.ts';
import type { PurgeFleetOptions, PurgeFleetResult } from './purge-client.ts';
import {
  appOfDeploymentId,
  type DeploymentRecord,
  type EnvironmentRecord,
  type SecretsKeyRecord,
} from './records.ts';
import type { RedirectTablePage, RedirectTableRecord, StagedRedirects } from './redirect-tables.ts';

/** What the CLI does with the control plane: a {@link ControlPlane} or a {@link ControlClient}. */
export type ControlApi = Pick<
  ControlPlane,
  | 'previewHost'
  | 'publish'
  | 'promote'
  | 'rollback'
  | 'configure'
  | 'environments'
  | 'deployments'
  | 'deployment'
  | 'deleteDeployment'
  | 'setSecretsKey'
  | 'rewrapSecrets'
  | 'stageRedirects'
  | 'commitRedirects'
  | 'redirects'
  | 'clearRedirects'
> & {
  /**
   * The fleet's secrets public key, or `undefined` when none is set. A team
   * asks on its own app's subject (`app`), an operator fleet-wide.
   */
  secretsKey(app?: string): Promise<SecretsKeyRecord | undefined>;
};

/** Options of {@link ControlClient}. */
export interface ControlClientOptions {
  /** Connection to the fleet's NATS (with the caller's credential). */
  connection: NatsConnection;
  /**
   * Domain under which each deployment gets a preview host.
   * @default 'preview.localhost'
   */
  previewDomain?: string;
  /**
   * Milliseconds to wait for the answer to one request (a publish's last
   * request checks and stores the whole build: it gets 10 times as long).
   * @default 30000
   */
  timeoutMs?: number;
}

/**
 * Calls the control service. Its methods take and return what the
 * {@link ControlPlane} methods of the same names do.
 *
 * @example
 * const cp = new ControlClient({ connection: nc });
 * await cp.promote('shop-0123456789ab', 'production');
 */
export class ControlClient implements ControlApi {
  /** Domain of preview hosts. */
  readonly previewDomain: string;
  readonly #nc: NatsConnection;
  readonly #timeoutMs: number;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: ControlClientOptions) {
    required('options', options);
    this.#nc = required('connection', options.connection);
    this.previewDomain = nonEmptyString(
      'previewDomain',
      options.previewDomain,
      'preview.localhost',
    );
    this.#timeoutMs = positiveInt('timeoutMs', options.timeoutMs, 30_000);
  }

  /**
   * Sends `verb` about `app` with `args`; resolves with the result.
   * @throws FlotillaError the service's error; `FLOTILLA_ERR_FORBIDDEN` when
   *   NATS refuses this credential the subject; `FLOTILLA_ERR_NO_RESPONDERS`
   *   when no control service runs; `FLOTILLA_ERR_TIMEOUT`
   */
  async call<V extends ControlVerb>(
    app: string,
    verb: V,
    args: ControlArgs<V>,
    timeoutMs = this.#timeoutMs,
    serviceId?: string,
  ): Promise<unknown> {
    const subject = controlSubject(app, verb, serviceId);
    let reply: Uint8Array;
    try {
      reply = (await this.#nc.request(subject, JSON.stringify(args), { timeout: timeoutMs })).data;
    } catch (err) {
      throw requestError(err, subject, app, verb);
    }
    return decodeReply(reply, `${verb} ${app}`);
  }

  previewHost(deploymentId: string): string {
    return `${deploymentId}.${this.previewDomain}`;
  }

  async environments(app?: string): Promise<EnvironmentRecord[]> {
    return (await this.call(app ?? CONTROL_FLEET_APP, 'environments', {})) as EnvironmentRecord[];
  }

  async deployments(app?: string): Promise<DeploymentRecord[]> {
    return (await this.call(app ?? CONTROL_FLEET_APP, 'deployments', {})) as DeploymentRecord[];
  }

  async deployment(id: string): Promise<DeploymentRecord | undefined> {
    const found = await this.call(appOfDeploymentId(id), 'deployment', { id });
    return (found ?? undefined) as DeploymentRecord | undefined;
  }

  async promote(deploymentId: string, env: string): Promise<EnvironmentRecord> {
    const app = appOfDeploymentId(deploymentId);
    return (await this.call(app, 'promote', { deploymentId, env })) as EnvironmentRecord;
  }

  async rollback(app: string, env: string): Promise<EnvironmentRecord> {
    return (await this.call(app, 'rollback', { env })) as EnvironmentRecord;
  }

  async configure(app: string, env: string, patch: EnvironmentPatch): Promise<EnvironmentRecord> {
    const wirePatch = patch as unknown as Record<string, unknown>;
    return (await this.call(app, 'configure', { env, patch: wirePatch })) as EnvironmentRecord;
  }

  /**
   * Purges the shields' caches through the control service (as
   * {@link purgeFleet} does): a selector without an app is every app's
   * (the operator's right only).
   */
  async purge(selector: PurgeSelector, options: PurgeFleetOptions = {}): Promise<PurgeFleetResult> {
    const app = 'app' in selector && selector.app !== undefined ? selector.app : CONTROL_FLEET_APP;
    const listenMs = options.listenMs ?? 1500;
    const timeoutMs = options.timeoutMs ?? 3000;
    const wait = listenMs + timeoutMs + this.#timeoutMs;
    return (await this.call(
      app,
      'purge',
      { selector, listenMs, timeoutMs },
      wait,
    )) as PurgeFleetResult;
  }

  async secretsKey(app?: string): Promise<SecretsKeyRecord | undefined> {
    const found = await this.call(app ?? CONTROL_FLEET_APP, 'secrets-key', {});
    return (found ?? undefined) as SecretsKeyRecord | undefined;
  }

  async setSecretsKey(publicKeyPem: string): Promise<SecretsKeyRecord> {
    return (await this.call(CONTROL_FLEET_APP, 'set-secrets-key', {
      publicKey: publicKeyPem,
    })) as SecretsKeyRecord;
  }

  async rewrapSecrets(
    app: string,
    env: string,
    rewraps: SecretRewraps,
  ): Promise<{ environment: EnvironmentRecord; replaced: string[] }> {
    const wire = rewraps as unknown as Record<string, unknown>;
    return (await this.call(app, 'rewrap-secrets', { env, rewraps: wire })) as {
      environment: EnvironmentRecord;
      replaced: string[];
    };
  }

  async stageRedirects(
    app: string,
    env: string,
    rows: unknown[],
    firstRow?: number,
  ): Promise<StagedRedirects> {
    const args = { env, rows, ...(firstRow === undefined ? {} : { firstRow }) };
    return (await this.call(app, 'redirects-stage', args)) as StagedRedirects;
  }

  async commitRedirects(
    app: string,
    env: string,
    parts: string[],
    mode?: 'replace' | 'merge',
  ): Promise<RedirectTableRecord> {
    const args = { env, parts, ...(mode === undefined ? {} : { mode }) };
    return (await this.call(app, 'redirects-commit', args)) as RedirectTableRecord;
  }

  /** A page of the table: at most `REDIRECT_BATCH_ROWS` rows per request (100 by default). */
  async redirects(
    app: string,
    env: string,
    offset?: number,
    limit?: number,
  ): Promise<RedirectTablePage> {
    const args = {
      env,
      ...(offset === undefined ? {} : { offset }),
      ...(limit === undefined ? {} : { limit: Math.min(limit, REDIRECT_BATCH_ROWS) }),
    };
    return (await this.call(app, 'redirects-list', args)) as RedirectTablePage;
  }

  async clearRedirects(app: string, env: string): Promise<{ removed: number }> {
    return (await this.call(app, 'redirects-clear', { env })) as { removed: number };
  }

  async deleteDeployment(id: string): Promise<void> {
    await this.call(appOfDeploymentId(id), 'delete-deployment', { id });
  }

  /**
   * Uploads every file of the build in chunks, then asks the service to
   * publish it: the service checks each file's hash and size against the
   * manifest before it stores anything, so a refused or interrupted publish
   * leaves nothing in the control plane.
   */
  async publish(build: BuildOutput, options: PublishOptions = {}): Promise<PublishResult> {
    const dir = required('build.dir', build.dir);
    const files = await buildFiles(dir);
    let manifest: { name?: unknown };
    try {
      manifest = JSON.parse(await readWhole(join(dir, 'manifest.json'))) as { name?: unknown };
    } catch (err) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `${join(dir, 'manifest.json')} is not readable JSON: ${(err as Error).message}`,
      );
    }
    if (typeof manifest.name !== 'string') {
      throw new FlotillaError('FLOTILLA_ERR_BUNDLE', `${join(dir, 'manifest.json')} has no name`);
    }
    const app = manifest.name;
    // Refused here, before any chunk is sent, as the control plane would refuse it.
    await checkBundleCap(
      checkManifest(manifest, join(dir, 'manifest.json')),
      join(dir, 'bundle.js'),
    );
    const uploadId = randomUUID();
    const total = files.reduce((n, f) => n + f.bytes, 0);
    let done = 0;
    const progress = (file?: string) => {
      try {
        options.onProgress?.({ phase: 'upload', done, total, ...(file ? { file } : {}) });
      } catch {
        // progress callbacks never fail the publish
      }
    };
    progress();
    // The first chunk goes to any control service; the rest, and the publish, to that one.
    let serviceId: string | undefined;
    for (const file of files) {
      const handle = await open(join(dir, ...file.name.split('/')), 'r');
      try {
        const buffer = Buffer.alloc(UPLOAD_CHUNK_BYTES);
        let offset = 0;
        for (;;) {
          options.signal?.throwIfAborted();
          const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, offset);
          if (bytesRead === 0 && offset > 0) break;
          const data = buffer.subarray(0, bytesRead).toString('base64');
          const args = { uploadId, file: file.name, offset, data };
          const took = await this.call(app, 'upload', args, this.#timeoutMs, serviceId);
          serviceId ??= serviceIdOf(took);
          offset += bytesRead;
          done += bytesRead;
          progress(file.name);
          if (bytesRead === 0) break;
        }
      } finally {
        await handle.close();
      }
    }
    options.signal?.throwIfAborted();
    const args = { uploadId, ...(options.env ? { env: options.env } : {}) };
    const wait = this.#timeoutMs * 10;
    return (await this.call(app, 'publish', args, wait, serviceId)) as PublishResult;
  }
}

/** The id of the control service that took an upload (the result of `upload`). */
function serviceIdOf(result: unknown): string {
  const id = (result as { serviceId?: unknown } | null)?.serviceId;
  if (!isSubjectToken(id)) {
    throw new FlotillaError(
      'FLOTILLA_ERR_PROTOCOL',
      'the control service did not say who took the upload',
    );
  }
  return id;
}

/** Every file under `dir` as a `/`-separated relative name with its size. */
async function buildFiles(dir: string): Promise<{ name: string; bytes: number }[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files: { name: string; bytes: number }[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const name = relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/');
    if (name !== 'manifest.json' && name !== 'bundle.js' && !name.startsWith('assets/')) continue;
    const handle = await open(join(dir, name), 'r');
    try {
      files.push({ name, bytes: (await handle.stat()).size });
    } finally {
      await handle.close();
    }
  }
  return files.sort((a, b) => (a.name === 'manifest.json' ? -1 : a.name.localeCompare(b.name)));
}

async function readWhole(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}

/** A failed request as a {@link FlotillaError} that says what was refused. */
function requestError(
  thrown: unknown,
  subject: string,
  app: string,
  verb: ControlVerb,
): FlotillaError {
  // nats.js wraps what went wrong in a RequestError.
  const err = thrown instanceof errors.RequestError && thrown.cause ? thrown.cause : thrown;
  if (err instanceof errors.PermissionViolationError) {
    return new FlotillaError(
      'FLOTILLA_ERR_FORBIDDEN',
      `this credential may not ${CONTROL_VERBS[verb].does} ${app === CONTROL_FLEET_APP ? 'every app' : `app ${app}`} ` +
        `(NATS denied publishing to ${subject}; ask the operator to add the app to your team)`,
      { cause: err },
    );
  }
  if (err instanceof errors.NoRespondersError) {
    return new FlotillaError(
      'FLOTILLA_ERR_NO_RESPONDERS',
      `no control service answers ${subject}: start one with \`flotilla start --role control\``,
      { cause: err },
    );
  }
  if (err instanceof errors.TimeoutError) {
    return new FlotillaError(
      'FLOTILLA_ERR_TIMEOUT',
      `the control service did not answer ${subject}`,
      {
        cause: err,
      },
    );
  }
  return new FlotillaError(
    'FLOTILLA_ERR_TRANSPORT_CLOSED',
    `${subject}: ${(err as Error).message}`,
    { cause: err },
  );
}
