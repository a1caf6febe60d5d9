/**
 * Reading a request body, within the limit of what one transport message
 * carries.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';

const EMPTY = new Uint8Array(0);

/**
 * The body of `req` (empty for GET and HEAD, whose body is discarded).
 * Rejects with `FLOTILLA_ERR_BODY_TOO_LARGE` past `maxBytes`: at once when
 * `content-length` announces more, else as soon as more has arrived.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Uint8Array> {
  const method = (req.method ?? 'GET').toUpperCase();
  if (method === 'GET' || method === 'HEAD') {
    req.resume();
    return Promise.resolve(EMPTY);
  }
  const tooLarge = () =>
    new FlotillaError('FLOTILLA_ERR_BODY_TOO_LARGE', `request body is over ${maxBytes} bytes`);
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
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on('error', reject);
  });
}
