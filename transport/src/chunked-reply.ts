/**
 * Replies larger than one NATS message. The responder sends the reply's
 * headers with the first chunk of the body as the reply, naming a subject
 * of its own (`flotilla.chunks.<nuid>`, subscribed before that reply goes
 * out) and the body's total size and chunk count; the requester pulls the
 * other chunks from it by number, all at once, each a request of its own
 * under what is left of the original request's timeout, and checks that
 * each answer is the chunk asked for and that the sizes add up. A chunk
 * that does not arrive, or a total that does not match, fails the request
 * with `FLOTILLA_ERR_REPLY_INCOMPLETE`: never a truncated body. Replies that
 * fit one message are sent as before, with no extra header or message.
 * See `transport/README.md`, "Large replies".
 */
import { FlotillaError, type WireMessage } from '@flotilla/protocol';

/** Headers of a chunked reply (its first message) and of the pulls. */
export const CHUNK_HEADERS = {
  /** On the first message: how many chunks the body has, that one included (at least 2). */
  count: 'flotilla-chunks',
  /** On the first message: the body's total size in bytes. */
  bytes: 'flotilla-chunked-bytes',
  /** On the first message: the subject the other chunks are pulled from. */
  pull: 'flotilla-chunk-pull',
  /** On a pull and its answer: the chunk's number (1 … count − 1). */
  index: 'flotilla-chunk',
} as const;

/** Subjects the responder serves the other chunks on: `flotilla.chunks.<nuid>`. */
export const CHUNK_SUBJECT_PREFIX = 'flotilla.chunks';

/** Most chunks one reply may have (a 10 MiB body under a 1 MiB `max_payload` has 11). */
export const MAX_CHUNKS = 4096;

/** `body` cut into views of at most `size` bytes (no copy). */
export function splitBody(body: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < body.byteLength; at += size) {
    chunks.push(body.subarray(at, Math.min(body.byteLength, at + size)));
  }
  return chunks;
}

/** What the first message of a chunked reply announces. */
export interface ChunkedHead {
  count: number;
  bytes: number;
  pull: string;
  /** The reply's own headers (the chunk headers left out). */
  headers: Record<string, string>;
}

function incomplete(subject: string, problem: string): FlotillaError {
  return new FlotillaError(
    'FLOTILLA_ERR_REPLY_INCOMPLETE',
    `the reply on ${subject} came in chunks and ${problem}`,
  );
}

/**
 * The announcement of a chunked reply, or undefined for a reply in one
 * message.
 *
 * @throws FlotillaError `FLOTILLA_ERR_REPLY_INCOMPLETE` for an announcement
 * that does not hold together (a count, size or subject out of range).
 */
export function chunkedHead(reply: WireMessage, subject: string): ChunkedHead | undefined {
  const countText = reply.headers[CHUNK_HEADERS.count];
  if (countText === undefined) return undefined;
  const count = Number(countText);
  const bytes = Number(reply.headers[CHUNK_HEADERS.bytes]);
  const pull = reply.headers[CHUNK_HEADERS.pull] ?? '';
  if (
    !Number.isInteger(count) ||
    count < 2 ||
    count > MAX_CHUNKS ||
    !Number.isSafeInteger(bytes) ||
    bytes < reply.body.byteLength ||
    !pull.startsWith(`${CHUNK_SUBJECT_PREFIX}.`)
  ) {
    throw incomplete(subject, `its announcement is malformed (${count} chunks, ${bytes} bytes)`);
  }
  const headers = { ...reply.headers };
  for (const name of Object.values(CHUNK_HEADERS)) delete headers[name];
  return { count, bytes, pull, headers };
}

/**
 * Pulls chunks 1 … count − 1 of a chunked reply with `pull(i)` (all at
 * once) and returns the whole reply: the first message's headers, the body
 * put together.
 *
 * @param pull requests chunk `i` from the responder; resolves with its answer.
 * @throws FlotillaError `FLOTILLA_ERR_REPLY_INCOMPLETE` when a chunk fails to
 * arrive, is not the one asked for, or the sizes do not add up; `rethrow`
 * errors (an aborted signal) as they are.
 */
export async function assembleChunks(
  first: WireMessage,
  head: ChunkedHead,
  subject: string,
  pull: (index: number) => Promise<WireMessage>,
  rethrow: (err: unknown) => boolean,
): Promise<WireMessage> {
  const rest = Array.from({ length: head.count - 1 }, async (_, n) => {
    const index = n + 1;
    let answer: WireMessage;
    try {
      answer = await pull(index);
    } catch (err) {
      if (rethrow(err)) throw err;
      throw incomplete(
        subject,
        `chunk ${index} of ${head.count} did not arrive: ${(err as Error)?.message ?? String(err)}`,
      );
    }
    if (answer.headers[CHUNK_HEADERS.index] !== String(index)) {
      throw incomplete(subject, `the answer for chunk ${index} of ${head.count} was another`);
    }
    return answer.body;
  });
  const settled = await Promise.allSettled(rest);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  const chunks = [
    first.body,
    ...settled.map((s) => (s as PromiseFulfilledResult<Uint8Array>).value),
  ];
  let total = 0;
  for (const c of chunks) total += c.byteLength;
  if (total !== head.bytes) {
    throw incomplete(subject, `its ${head.count} chunks hold ${total} bytes, not ${head.bytes}`);
  }
  const body = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return { headers: head.headers, body };
}
