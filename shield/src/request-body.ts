/**
 * Reading a request body, within the limit of what one transport message
 * carries.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';

const EMPTY = new Uint8Array(0);

/**
 * The body of `req` (empty for GET and HEAD, whose body is discarded).
 * Rejects with `FLOTILLA_ERR_BODY_TOO_LARGE` past `maxBytes`: at once when
 * `content-length` announces more, else as soon as more has arrived. A GET
 * or HEAD with a chunked body is read to its end first (discarding it), so
 * that one of any size cannot stream forever.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const method = (req.method ?? 'GET').toUpperCase();
  const discard = method === 'GET' || method === 'HEAD';
  if (discard && (req.complete || req.headers['transfer-encoding'] === undefined)) {
    req.resume();
    return Promise.resolve(EMPTY);
  }
  const tooLarge = () =>
    new FlotillaError(
      'FLOTILLA_ERR_BODY_TOO_LARGE',
      `request body is over ${maxBytes} bytes${discard ? ` (a ${method} body is discarded, but read first)` : ''}`,
    );
  // Refuse an announced oversize body before reading any of it.
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        // Stop buffering but keep the socket: the client must still get its
        // 413 (the error response closes the connection afterwards).
        req.off('data', onData);
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      if (!discard) chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(discard ? EMPTY : new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}

/**
 * Bounds what Node reads of a body nobody consumed once the response is
 * sent (a hot hit, a 404, an error answered before the body): Node would
 * read ("dump") it to its end to keep the connection, so a chunked body
 * could stream forever. Past `maxBytes` more, the connection is closed.
 */
export function limitUnreadBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): void {
  // Before Node's own listener, which would "dump" the body: a dumped
  // body emits no data to count.
  res.prependOnceListener('finish', () => {
    if (req.complete) return;
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.socket.destroy();
      }
    };
    req.on('data', onData);
    req.resume();
  });
}
