import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { FlotillaError } from '@flotilla/protocol';

/**
 * Reading the files of a build: hashing them, and streaming them to the blob
 * store while checking they still hash to what the manifest says.
 *
 * @module
 */

const READ_BYTES = 256 * 1024;

/** sha256 (hex) and size of the file at `path`, read in chunks. */
export async function hashFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ hash: string; bytes: number }> {
  const handle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buffer = new Uint8Array(READ_BYTES);
    let bytes = 0;
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { hash: hash.digest('hex'), bytes };
  } finally {
    await handle.close();
  }
}

/** sha256 of `bytes`, hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A stream of the file at `path` that fails (instead of ending) when the
 * bytes read do not hash to `expectedHash`: a file changed after it was
 * hashed never reaches the blob store under the wrong name.
 */
export function verifiedFileStream(
  path: string,
  label: string,
  expectedHash: string,
): ReadableStream<Uint8Array> {
  let handle: FileHandle | undefined;
  let finished = false;
  const hash = createHash('sha256');
  const close = async (): Promise<void> => {
    finished = true;
    const h = handle;
    handle = undefined;
    await h?.close().catch(() => {});
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        // Opened on the first read, so a stream cancelled unread never holds a descriptor.
        if (handle === undefined && !finished) handle = await open(path, 'r');
        if (handle === undefined) throw new Error(`${label}: stream already closed`);
        const chunk = new Uint8Array(READ_BYTES);
        const { bytesRead } = await handle.read(chunk, 0, chunk.byteLength, null);
        if (bytesRead === 0) {
          await close();
          const actual = hash.digest('hex');
          if (actual !== expectedHash) {
            controller.error(
              new FlotillaError(
                'FLOTILLA_ERR_BUNDLE',
                `${label} changed while it was uploaded (sha256 ${actual}, expected ${expectedHash})`,
              ),
            );
          } else {
            controller.close();
          }
          return;
        }
        const data = chunk.subarray(0, bytesRead);
        hash.update(data);
        controller.enqueue(data);
      } catch (err) {
        await close();
        controller.error(err);
      }
    },
    async cancel() {
      await close();
    },
  });
}
