/**
 * The control service: the one process kind that writes the control plane
 * on a secured fleet. It answers `flotilla.control.<app>.<verb>` requests by
 * calling its {@link ControlPlane}; nats-server's per-user subject
 * permissions decide who may send a request about which app, and the
 * service checks that a request's arguments stay within the subject's app.
 *
 * @module
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CONTROL_FLEET_APP,
  CONTROL_QUEUE,
  CONTROL_SUBJECT_PREFIX,
  FlotillaError,
  InvalidOptionError,
  isSubjectToken,
  type LogFn,
  nonEmptyString,
  positiveInt,
  required,
} from '@flotilla/protocol';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import type { ControlPlane } from './control-plane.ts';
import {
  type ControlArgs,
  type ControlVerb,
  encodeErrorReply,
  encodeReply,
  FLEET_ONLY_VERBS,
  FLEET_WIDE_VERBS,
  isControlVerb,
  parseControlArgs,
} from './control-verbs.ts';
import { purgeFleet } from './purge-client.ts';
import { appOfDeploymentId } from './records.ts';

/** Where every request's answer goes: nats.js inboxes (`_INBOX.<public key>.…` with a credential). */
const REQUEST_INBOX = '_INBOX.';

/** Options of {@link ControlService}. */
export interface ControlServiceOptions {
  /** Connection whose user may subscribe to `flotilla.control.>` and write the control plane. */
  connection: NatsConnection;
  /** The control plane requests act on. */
  controlPlane: ControlPlane;
  /**
   * Directory under which uploads wait for their publish.
   * @default `<os tmpdir>/flotilla-control-<random>`
   */
  uploadDir?: string;
  /**
   * Largest upload (all files of one build), in bytes; bigger ones are refused
   * before they are stored.
   * @default 64 MiB
   */
  maxUploadBytes?: number;
  /**
   * Uploads one app may have in progress at once (each up to `maxUploadBytes`
   * on the service's disk).
   * @default 4
   */
  maxUploadsPerApp?: number;
  /**
   * An upload not published within this many milliseconds of its last chunk is discarded.
   * @default 600000
   */
  uploadTtlMs?: number;
  /** Structured log sink. @default no logging */
  log?: LogFn;
}

interface Upload {
  app: string;
  dir: string;
  bytes: number;
  /** Next expected offset per file: chunks arrive in order. */
  offsets: Map<string, number>;
  timer: NodeJS.Timeout;
}

type Handler<V extends ControlVerb> = (app: string, args: ControlArgs<V>) => Promise<unknown>;

/** `flotilla.control.<app>.<verb>[.<service id>]` → app and verb. */
function parseSubject(subject: string): { app: string; verb: string } | undefined {
  const rest = subject.slice(CONTROL_SUBJECT_PREFIX.length + 1).split('.');
  if (rest.length !== 2 && rest.length !== 3) return undefined;
  return { app: rest[0] as string, verb: rest[1] as string };
}

/**
 * Answers control requests until drained.
 *
 * @example
 * const service = new ControlService({ connection: nc, controlPlane });
 * service.start();
 * // on SIGTERM: await service.drain();
 */
export class ControlService {
  readonly #nc: NatsConnection;
  readonly #cp: ControlPlane;
  readonly #log: LogFn;
  readonly #uploadRoot: string;
  readonly #maxUploadBytes: number;
  readonly #maxUploadsPerApp: number;
  readonly #uploadTtlMs: number;
  readonly #uploads = new Map<string, Upload>();
  readonly #inFlight = new Set<Promise<void>>();
  /**
   * This service's id: the chunks of an upload and its publish are sent to
   * `flotilla.control.<app>.<verb>.<serviceId>`, so that they all reach the
   * service holding the upload (the queue group would spread them).
   */
  readonly serviceId = randomBytes(8).toString('hex');
  #subs: Subscription[] = [];
  readonly #handlers: { [V in ControlVerb]: Handler<V> };

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: ControlServiceOptions) {
    required('options', options);
    this.#nc = required('connection', options.connection);
    this.#cp = required('controlPlane', options.controlPlane);
    this.#uploadRoot = nonEmptyString(
      'uploadDir',
      options.uploadDir,
      join(tmpdir(), `flotilla-control-${randomUUID()}`),
    );
    this.#maxUploadBytes = positiveInt('maxUploadBytes', options.maxUploadBytes, 64 * 1024 * 1024);
    this.#uploadTtlMs = positiveInt('uploadTtlMs', options.uploadTtlMs, 600_000);
    this.#maxUploadsPerApp = positiveInt('maxUploadsPerApp', options.maxUploadsPerApp, 4);
    if (options.log !== undefined && typeof options.log !== 'function') {
      throw new InvalidOptionError('log', 'must be a function');
    }
    this.#log = options.log ?? (() => {});
    const cp = this.#cp;
    const all = (app: string) => (app === CONTROL_FLEET_APP ? undefined : app);
    this.#handlers = {
      environments: (app) => cp.environments(all(app)),
      deployments: (app) => cp.deployments(all(app)),
      deployment: async (app, { id }) => {
        ownDeployment(app, id);
        return (await cp.deployment(id)) ?? null;
      },
      promote: async (app, { deploymentId, env }) => {
        ownDeployment(app, deploymentId);
        return cp.promote(deploymentId, env);
      },
      rollback: (app, { env }) => cp.rollback(app, env),
      configure: (app, { env, patch }) =>
        cp.configure(app, env, patch as Parameters<ControlPlane['configure']>[2]),
      'delete-deployment': async (app, { id }) => {
        ownDeployment(app, id);
        await cp.deleteDeployment(id);
        return null;
      },
      purge: (app, { selector, listenMs, timeoutMs }) => {
        const scope = 'app' in selector ? selector.app : undefined;
        if (app !== CONTROL_FLEET_APP && scope !== app) {
          throw new FlotillaError(
            'FLOTILLA_ERR_FORBIDDEN',
            `a purge sent as app ${app} must be scoped to it (--app ${app}), got ${scope === undefined ? 'every app' : `app ${scope}`}`,
          );
        }
        return purgeFleet(this.#nc, selector, {
          ...(listenMs ? { listenMs } : {}),
          ...(timeoutMs ? { timeoutMs } : {}),
        });
      },
      'secrets-key': async () => (await cp.secretsKey()) ?? null,
      'set-secrets-key': (_app, { publicKey }) => cp.setSecretsKey(publicKey),
      'rewrap-secrets': (app, { env, rewraps }) =>
        cp.rewrapSecrets(app, env, rewraps as Parameters<ControlPlane['rewrapSecrets']>[2]),
      'redirects-stage': (app, { env, rows, firstRow }) =>
        cp.stageRedirects(app, env, rows, firstRow),
      'redirects-commit': (app, { env, parts, mode }) => cp.commitRedirects(app, env, parts, mode),
      'redirects-list': (app, { env, offset, limit }) =>
        cp.redirects(app, env, offset, limit ?? 100),
      'redirects-clear': (app, { env }) => cp.clearRedirects(app, env),
      upload: (app, args) => this.#chunk(app, args),
      publish: (app, args) => this.#publish(app, args),
    };
  }

  /**
   * Subscribes (in the control services' queue group, and to requests
   * addressed to this service); requests are answered from now on.
   */
  start(): void {
    if (this.#subs.length > 0) return;
    const callback = (err: Error | null, msg: Msg) => {
      if (err) {
        this.#log({ msg: 'control subscription failed', error: err.message });
        return;
      }
      const run = this.#answer(msg).finally(() => this.#inFlight.delete(run));
      this.#inFlight.add(run);
    };
    this.#subs = [
      this.#nc.subscribe(`${CONTROL_SUBJECT_PREFIX}.*.*`, { queue: CONTROL_QUEUE, callback }),
      this.#nc.subscribe(`${CONTROL_SUBJECT_PREFIX}.*.*.${this.serviceId}`, { callback }),
    ];
  }

  /** Takes no new requests, finishes those in flight, discards unpublished uploads. */
  async drain(): Promise<void> {
    await Promise.all(this.#subs.map((sub) => sub.drain().catch(() => {})));
    await Promise.allSettled([...this.#inFlight]);
    for (const upload of this.#uploads.values()) clearTimeout(upload.timer);
    this.#uploads.clear();
    await rm(this.#uploadRoot, { recursive: true, force: true });
  }

  async #answer(msg: Msg): Promise<void> {
    // Only requests a client sent, which wait for the answer in an inbox:
    // nats-server lets any credential that may read a stream have a
    // JetStream consumer deliver its messages (an app's uploaded file, say)
    // to any subject, with no reply or a `$JS.ACK` one. Such a message is not
    // a request of whoever its subject's permissions admit.
    if (!msg.reply?.startsWith(REQUEST_INBOX)) {
      this.#log({
        msg: 'control message ignored: no inbox to answer (not a request)',
        subject: msg.subject,
        reply: msg.reply || null,
      });
      return;
    }
    const started = Date.now();
    const where = parseSubject(msg.subject);
    let reply: Uint8Array;
    try {
      if (!where || !isControlVerb(where.verb)) {
        throw new FlotillaError(
          'FLOTILLA_ERR_INVALID_OPTION',
          `unknown control request ${msg.subject}`,
        );
      }
      const { app, verb } = where;
      if (app === CONTROL_FLEET_APP ? !FLEET_WIDE_VERBS.has(verb) : !isSubjectToken(app)) {
        throw new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', `${verb} needs an app, got ${app}`);
      }
      if (app !== CONTROL_FLEET_APP && FLEET_ONLY_VERBS.has(verb)) {
        throw new FlotillaError(
          'FLOTILLA_ERR_FORBIDDEN',
          `${verb} changes the whole fleet: only an operator may send it (on ${CONTROL_FLEET_APP}), not app ${app}`,
        );
      }
      let body: unknown;
      try {
        body = msg.data.length === 0 ? {} : msg.json();
      } catch {
        throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${verb}: the request is not JSON`);
      }
      const args = parseControlArgs(verb, body);
      const handler = this.#handlers[verb] as Handler<typeof verb>;
      reply = encodeReply(await handler(app, args as never));
      if (verb !== 'upload') {
        this.#log({ msg: 'control request', app, verb, ms: Date.now() - started });
      }
    } catch (err) {
      this.#log({
        msg: 'control request refused',
        subject: msg.subject,
        error: (err as Error).message,
      });
      reply = encodeErrorReply(err);
    }
    msg.respond(reply);
  }

  async #chunk(app: string, args: ControlArgs<'upload'>): Promise<{ serviceId: string }> {
    let upload = this.#uploads.get(args.uploadId);
    if (upload === undefined) {
      if (args.offset !== 0) {
        throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `upload ${args.uploadId} does not exist`);
      }
      const open = [...this.#uploads.values()].filter((u) => u.app === app).length;
      if (open >= this.#maxUploadsPerApp) {
        throw new FlotillaError(
          'FLOTILLA_ERR_CONFLICT',
          `app ${app} already has ${open} uploads in progress: publish or wait for them`,
        );
      }
      const dir = join(this.#uploadRoot, args.uploadId);
      await mkdir(dir, { recursive: true });
      upload = { app, dir, bytes: 0, offsets: new Map(), timer: setTimeout(() => {}, 0) };
      this.#uploads.set(args.uploadId, upload);
    }
    if (upload.app !== app) {
      throw new FlotillaError(
        'FLOTILLA_ERR_FORBIDDEN',
        `upload ${args.uploadId} belongs to app ${upload.app}, not ${app}`,
      );
    }
    this.#touch(args.uploadId, upload);
    const expected = upload.offsets.get(args.file) ?? 0;
    if (args.offset !== expected) {
      throw new FlotillaError(
        'FLOTILLA_ERR_CONFLICT',
        `upload ${args.uploadId}: ${args.file} expected offset ${expected}, got ${args.offset}`,
      );
    }
    const data = Buffer.from(args.data, 'base64');
    if (upload.bytes + data.byteLength > this.#maxUploadBytes) {
      await this.#discard(args.uploadId);
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `the build is larger than the control service accepts (${this.#maxUploadBytes} bytes)`,
      );
    }
    const path = join(upload.dir, ...args.file.split('/'));
    await mkdir(join(path, '..'), { recursive: true });
    const handle = await open(path, expected === 0 ? 'w' : 'a');
    try {
      await handle.write(data);
    } finally {
      await handle.close();
    }
    upload.bytes += data.byteLength;
    upload.offsets.set(args.file, expected + data.byteLength);
    return { serviceId: this.serviceId };
  }

  async #publish(app: string, { uploadId, env }: ControlArgs<'publish'>): Promise<unknown> {
    const upload = this.#uploads.get(uploadId);
    if (upload === undefined || upload.app !== app) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        `upload ${uploadId} of ${app} does not exist`,
      );
    }
    try {
      let name: unknown;
      try {
        name = (
          JSON.parse(await readFile(join(upload.dir, 'manifest.json'), 'utf8')) as {
            name?: unknown;
          }
        ).name;
      } catch (err) {
        throw new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          `upload ${uploadId} has no readable manifest.json: ${(err as Error).message}`,
        );
      }
      if (name !== app) {
        throw new FlotillaError(
          'FLOTILLA_ERR_FORBIDDEN',
          `the build is of app ${JSON.stringify(name)}, but was sent as ${app}`,
        );
      }
      return await this.#cp.publish({ dir: upload.dir }, env === undefined ? {} : { env });
    } finally {
      await this.#discard(uploadId);
    }
  }

  #touch(uploadId: string, upload: Upload): void {
    clearTimeout(upload.timer);
    upload.timer = setTimeout(() => {
      this.#log({ msg: 'upload expired', uploadId, app: upload.app });
      void this.#discard(uploadId);
    }, this.#uploadTtlMs);
    upload.timer.unref();
  }

  async #discard(uploadId: string): Promise<void> {
    const upload = this.#uploads.get(uploadId);
    if (upload === undefined) return;
    this.#uploads.delete(uploadId);
    clearTimeout(upload.timer);
    await rm(upload.dir, { recursive: true, force: true });
  }
}

/** Refuses a deployment id of another app than the subject's. */
function ownDeployment(app: string, id: string): void {
  const owner = appOfDeploymentId(id);
  if (app !== CONTROL_FLEET_APP && owner !== app) {
    throw new FlotillaError(
      'FLOTILLA_ERR_FORBIDDEN',
      `deployment ${id} belongs to app ${owner}, not ${app}`,
    );
  }
}
