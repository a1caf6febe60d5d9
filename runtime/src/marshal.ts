/**
 * What crosses into and out of the isolate for one render: the request as
 * plain data, the environment's variables, and the guest's result checked
 * and turned into a {@link SandboxResponse}.
 */
import { transcode } from 'node:buffer';
import { FlotillaError, fromWireError, InvalidOptionError } from '@flotilla/protocol';
import { HEADER_NAME, UNSAFE_HEADER_VALUE } from '@flotilla/protocol/patterns';
import type { GuestResult } from './guest/host.ts';

/** The request a bundle renders, as plain data. */
export interface SandboxRequest {
  method: string;
  /** Absolute URL. */
  url: string;
  headers: Array<[string, string]>;
  /** Request body, or null for none. */
  body: Uint8Array | null;
}

/** The response a bundle returned, as plain data. */
export interface SandboxResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** CPU time the isolate spent on this render, in ms (approximate under concurrency). */
  cpuMs: number;
  /** The body went out through the render's stream sink (`body` is empty). */
  streamed?: boolean;
}

/** Reused per thread: UTF-8 straight into it, then one exact copy (faster than TextEncoder). */
let scratch = Buffer.allocUnsafeSlow(256 * 1024);

/** A character V8 cannot keep in a one-byte string: the string is UTF-16 inside. */
const WIDE_CHAR = /[\u0100-\uffff]/;

function utf8(text: string): Uint8Array {
  // Node encodes a UTF-16 string (one '€' or '—' in a page makes it one) to
  // UTF-8 at ~2.7 ns a char: ~120 µs for a 44 KB page, 8% of a React render.
  // A copy as UTF-16LE and ICU's transcode take a third of that. Lone
  // surrogates make transcode throw: Buffer's encoder replaces them.
  if (text.length >= 1024 && WIDE_CHAR.test(text)) {
    try {
      return transcode(Buffer.from(text, 'utf16le'), 'utf16le', 'utf8');
    } catch {
      // falls through
    }
  }
  const worst = text.length * 3;
  if (scratch.length < worst) scratch = Buffer.allocUnsafeSlow(worst);
  const n = scratch.write(text, 0, worst, 'utf8');
  return new Uint8Array(scratch.subarray(0, n));
}

/**
 * `bytes` alone, in a buffer of its own. Copying a view into an isolate (or
 * across threads) copies its whole underlying buffer, and request bodies are
 * often views into a larger pooled or socket buffer holding other data.
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

/**
 * `env` as the list of pairs the guest builds its per-render object from, or
 * null for none. Errors name the key only: values may be secrets.
 */
export function envPairs(env: unknown, deploymentId: string): Array<[string, string]> | null {
  if (env === undefined || env === null) return null;
  if (typeof env !== 'object' || Array.isArray(env)) {
    throw new InvalidOptionError(
      'env',
      `must be an object of variable name → string value (deployment ${deploymentId})`,
    );
  }
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(env)) {
    if (name === '') {
      throw new InvalidOptionError(
        'env',
        `has an empty variable name (deployment ${deploymentId})`,
      );
    }
    if (typeof value !== 'string') {
      throw new InvalidOptionError(
        `env.${name}`,
        `must be a string, got ${value === null ? 'null' : typeof value} (deployment ${deploymentId})`,
      );
    }
    pairs.push([name, value]);
  }
  return pairs.length > 0 ? pairs : null;
}

/**
 * Checks what came out of the isolate. The prelude builds it, but a bundle can
 * patch `Response.prototype` or redefine `status`, so nothing is trusted:
 * a bad shape is the bundle's fault (`FLOTILLA_ERR_RENDER`), never ours.
 */
function invalidResult(result: GuestResult): string | undefined {
  if (typeof result !== 'object' || result === null) return 'not an object';
  if (!result.ok) {
    return typeof result.code === 'string' && typeof result.message === 'string'
      ? undefined
      : 'a malformed error';
  }
  const head = headProblem(result.status, result.headers);
  if (head !== undefined) return head;
  if (result.bodyText !== null && typeof result.bodyText !== 'string')
    return 'a body that is not text';
  if (result.bodyBytes !== null && !(result.bodyBytes instanceof Uint8Array)) {
    return 'a body that is not bytes';
  }
  if (
    result.streamedChunks !== undefined &&
    (!Number.isSafeInteger(result.streamedChunks) || result.streamedChunks < 0)
  ) {
    return 'a malformed stream count';
  }
  return undefined;
}

/** What is wrong with a response head out of the isolate (untrusted), or undefined. */
export function headProblem(status: unknown, headers: unknown): string | undefined {
  if (!Number.isInteger(status) || (status as number) < 200 || (status as number) > 599) {
    return `status ${String(status)}`;
  }
  if (!Array.isArray(headers)) return 'headers that are not a list';
  for (const pair of headers) {
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      typeof pair[0] !== 'string' ||
      typeof pair[1] !== 'string' ||
      !HEADER_NAME.test(pair[0]) ||
      UNSAFE_HEADER_VALUE.test(pair[1])
    ) {
      return `an invalid header ${JSON.stringify(Array.isArray(pair) ? pair[0] : pair)?.slice(0, 100)}`;
    }
  }
  return undefined;
}

/**
 * The response a render's guest `result` stands for, its body in UTF-8 and
 * in a buffer of its own.
 *
 * @throws FlotillaError `FLOTILLA_ERR_RENDER` for a result of the wrong shape
 * or the bundle's own error (with its code), `FLOTILLA_ERR_OUTPUT_LIMIT` for
 * a body over `outputBytes`.
 */
export function toResponse(
  result: GuestResult,
  cpuMs: number,
  deploymentId: string,
  outputBytes: number,
): SandboxResponse {
  const problem = invalidResult(result);
  if (problem !== undefined) {
    throw new FlotillaError(
      'FLOTILLA_ERR_RENDER',
      `render of ${deploymentId} returned an invalid response: ${problem}`,
    );
  }
  if (!result.ok) throw fromWireError(result);
  if (result.streamedChunks !== undefined) {
    return {
      status: result.status,
      headers: result.headers,
      body: new Uint8Array(0),
      cpuMs,
      streamed: true,
    };
  }
  const body =
    result.bodyBytes ?? (result.bodyText !== null ? utf8(result.bodyText) : new Uint8Array(0));
  if (body.byteLength > outputBytes) {
    throw new FlotillaError(
      'FLOTILLA_ERR_OUTPUT_LIMIT',
      `response of ${deploymentId} is ${body.byteLength} bytes, over the ${outputBytes}-byte cap`,
    );
  }
  return { status: result.status, headers: result.headers, body: ownBytes(body), cpuMs };
}
