/**
 * The control service's verbs: one table entry each, with the schema of
 * its arguments, so the service validates every request the same way and
 * the client ({@link ControlClient}) calls any verb with one method.
 * Requests travel on `flotilla.control.<app>.<verb>`; the reply is
 * `{ result }` or `{ error: { code, message } }`.
 *
 * @module
 */
import {
  FlotillaError,
  fromWireError,
  isSubjectToken,
  PurgeSelectorSchema,
  REDIRECT_BATCH_ROWS,
} from '@flotilla/protocol';
import { DEPLOYMENT_ID, HEX64 } from '@flotilla/protocol/patterns';
import * as v from 'valibot';

const Token = v.custom<string>(isSubjectToken, 'must be a subject token');
const DeploymentId = v.pipe(v.string(), v.regex(DEPLOYMENT_ID, 'must be a deployment id'));

/** A file of an upload: `manifest.json`, `bundle.js` or `assets/…`, never leaving the build directory. */
export const UploadFileSchema = v.pipe(
  v.string(),
  v.maxLength(1024),
  v.regex(
    /^(?:manifest\.json|bundle\.js|assets\/[^\0\\]+)$/,
    'must be manifest.json, bundle.js or assets/…',
  ),
  v.check(
    (path) => !path.split('/').some((part) => part === '' || part === '.' || part === '..'),
    'must not contain empty, "." or ".." segments',
  ),
);

/** Bytes of one upload chunk before base64 (fits a default NATS message with room to spare). */
export const UPLOAD_CHUNK_BYTES = 192 * 1024;

/** A verb: the schema of its arguments and what it does, for messages ("may not <does> app x"). */
interface VerbSpec<S extends v.GenericSchema> {
  args: S;
  does: string;
}

function verb<S extends v.GenericSchema>(does: string, args: S): VerbSpec<S> {
  return { args, does };
}

/** The verbs, by wire name. */
export const CONTROL_VERBS = {
  /** Environments of the subject's app (of every app on `_fleet`). */
  environments: verb('list the environments of', v.strictObject({})),
  /** Deployments of the subject's app (of every app on `_fleet`), newest first. */
  deployments: verb('list the deployments of', v.strictObject({})),
  /** One deployment of the subject's app, or `null`. */
  deployment: verb('read the deployments of', v.strictObject({ id: DeploymentId })),
  /** Points `env` at a deployment of the subject's app. */
  promote: verb('promote', v.strictObject({ deploymentId: DeploymentId, env: Token })),
  /** Points `env` back at the deployment it served before. */
  rollback: verb('roll back', v.strictObject({ env: Token })),
  /** Changes `env`'s settings (the patch is checked by the control plane). */
  configure: verb(
    'configure the environments of',
    v.strictObject({ env: Token, patch: v.record(v.string(), v.unknown()) }),
  ),
  /** Deletes a deployment of the subject's app. */
  'delete-deployment': verb('delete the deployments of', v.strictObject({ id: DeploymentId })),
  /** One chunk of a build file (`data` base64, at `offset`); `uploadId` names the upload. */
  upload: verb(
    'publish',
    v.strictObject({
      uploadId: Token,
      file: UploadFileSchema,
      offset: v.pipe(v.number(), v.integer(), v.minValue(0)),
      data: v.pipe(v.string(), v.base64()),
    }),
  ),
  /**
   * Purges the shields' caches (the selector must name the subject's app,
   * except on `_fleet`) and waits for their acknowledgements.
   */
  purge: verb(
    'purge the cache of',
    v.strictObject({
      selector: PurgeSelectorSchema,
      listenMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60_000))),
      timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(60_000))),
    }),
  ),
  /** The fleet's secrets public key (the same on every app's subject), or `null`. */
  'secrets-key': verb('read the secrets key of', v.strictObject({})),
  /** Makes a public key the fleet's secrets key: only on `_fleet` (operators). */
  'set-secrets-key': verb(
    'set the secrets key of',
    v.strictObject({ publicKey: v.pipe(v.string(), v.maxLength(4096)) }),
  ),
  /** Re-encrypts secrets of `env` to another key (the rewraps are checked by the control plane). */
  'rewrap-secrets': verb(
    're-encrypt the secrets of',
    v.strictObject({ env: Token, rewraps: v.record(v.string(), v.unknown()) }),
  ),
  /** Checks and stores one batch of redirect rows of `env` (for `redirects-commit`). */
  'redirects-stage': verb(
    'import the redirects of',
    v.strictObject({
      env: Token,
      rows: v.pipe(v.array(v.unknown()), v.maxLength(REDIRECT_BATCH_ROWS)),
      firstRow: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    }),
  ),
  /** Makes the staged batches `env`'s redirect table (or adds them to it). */
  'redirects-commit': verb(
    'import the redirects of',
    v.strictObject({
      env: Token,
      parts: v.pipe(v.array(v.pipe(v.string(), v.regex(HEX64))), v.maxLength(1000)),
      mode: v.optional(v.picklist(['replace', 'merge'])),
    }),
  ),
  /** A page of `env`'s redirect table. */
  'redirects-list': verb(
    'list the redirects of',
    v.strictObject({
      env: Token,
      offset: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
      limit: v.optional(
        v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(REDIRECT_BATCH_ROWS)),
      ),
    }),
  ),
  /** Removes `env`'s redirect table. */
  'redirects-clear': verb('clear the redirects of', v.strictObject({ env: Token })),
  /** Publishes the uploaded build (every file checked against its manifest first). */
  publish: verb('publish', v.strictObject({ uploadId: Token, env: v.optional(Token) })),
} as const;

/** A verb's wire name. */
export type ControlVerb = keyof typeof CONTROL_VERBS;

/** The arguments of verb `V`. */
export type ControlArgs<V extends ControlVerb> = v.InferOutput<(typeof CONTROL_VERBS)[V]['args']>;

/** Verbs that may be asked about every app at once (`_fleet`). */
export const FLEET_WIDE_VERBS: ReadonlySet<ControlVerb> = new Set([
  'environments',
  'deployments',
  'purge',
  'secrets-key',
  'set-secrets-key',
]);

/** Verbs that change the whole fleet: only on `_fleet`, which only operators may send to. */
export const FLEET_ONLY_VERBS: ReadonlySet<ControlVerb> = new Set(['set-secrets-key']);

/** Whether `verb` is a known verb. */
export function isControlVerb(verb: string): verb is ControlVerb {
  return Object.hasOwn(CONTROL_VERBS, verb);
}

/**
 * The arguments of `verb`, checked.
 * @throws FlotillaError `FLOTILLA_ERR_INVALID_OPTION` naming the bad field
 */
export function parseControlArgs<V extends ControlVerb>(verb: V, args: unknown): ControlArgs<V> {
  const parsed = v.safeParse(CONTROL_VERBS[verb].args, args);
  if (parsed.success) return parsed.output as ControlArgs<V>;
  const issue = parsed.issues[0];
  const field = issue.path?.map((p) => String(p.key)).join('.') ?? '';
  throw new FlotillaError(
    'FLOTILLA_ERR_INVALID_OPTION',
    `${verb}: ${field ? `${field} ` : ''}${issue.message}`,
  );
}

const ReplySchema = v.union([
  v.strictObject({ result: v.unknown() }),
  v.strictObject({ error: v.strictObject({ code: v.string(), message: v.string() }) }),
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A reply carrying `result` (`undefined` travels as `null`). */
export function encodeReply(result: unknown): Uint8Array {
  return encoder.encode(JSON.stringify({ result: result ?? null }));
}

/** A reply carrying `err` as `{ code, message }`. */
export function encodeErrorReply(err: unknown): Uint8Array {
  const code: string = err instanceof FlotillaError ? err.code : 'FLOTILLA_ERR_INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  return encoder.encode(JSON.stringify({ error: { code, message } }));
}

/**
 * The result a reply carries.
 * @throws FlotillaError the error it carries, or `FLOTILLA_ERR_PROTOCOL` when malformed
 */
export function decodeReply(bytes: Uint8Array, what: string): unknown {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(ReplySchema, json);
  if (!parsed.success) {
    throw new FlotillaError('FLOTILLA_ERR_PROTOCOL', `${what}: the reply is malformed`);
  }
  if ('error' in parsed.output) {
    const { code, message } = parsed.output.error;
    throw fromWireError({ code, message });
  }
  return parsed.output.result;
}
