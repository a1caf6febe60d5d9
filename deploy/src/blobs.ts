/**
 * Bundles and assets in the blob store: content-addressed by sha256
 * (`sha256-<hex>`), and checked against their hash whenever they are read.
 */
import { FlotillaError } from '@flotilla/protocol';
import { HEX64 } from '@flotilla/protocol/patterns';
import { sha256Hex } from './build-files.ts';
import type { ControlStore } from './control-store.ts';
import type { DeploymentRecord } from './records.ts';

/** Blob name of content with sha256 `hash`. */
export function blobName(hash: string): string {
  return `sha256-${hash}`;
}

/**
 * The bytes of the `bundle.js` of deployment `id`, checked against its hash.
 * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for a missing blob,
 *   `FLOTILLA_ERR_BUNDLE` when the bytes do not match
 */
export async function readBundle(
  store: ControlStore,
  id: string,
  deployment: Pick<DeploymentRecord, 'bundleHash'>,
): Promise<Uint8Array> {
  const bytes = await store.blobGet(blobName(deployment.bundleHash));
  if (bytes === undefined) {
    throw new FlotillaError(
      'FLOTILLA_ERR_NOT_FOUND',
      `bundle ${blobName(deployment.bundleHash)} of deployment ${id} is missing from the blob store`,
    );
  }
  const actual = sha256Hex(bytes);
  if (actual !== deployment.bundleHash) {
    throw new FlotillaError(
      'FLOTILLA_ERR_BUNDLE',
      `bundle of deployment ${id} hashes to ${actual}, expected ${deployment.bundleHash}`,
    );
  }
  return bytes;
}

/**
 * The bytes of the blob with sha256 `hash`, checked; `undefined` when the
 * store has none (or `hash` is not a sha256 in hex).
 * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` when the stored bytes do not match
 */
export async function readBlob(store: ControlStore, hash: string): Promise<Uint8Array | undefined> {
  if (typeof hash !== 'string' || !HEX64.test(hash)) return undefined;
  const bytes = await store.blobGet(blobName(hash));
  if (bytes === undefined) return undefined;
  const actual = sha256Hex(bytes);
  if (actual !== hash) {
    throw new FlotillaError('FLOTILLA_ERR_BUNDLE', `blob ${blobName(hash)} hashes to ${actual}`);
  }
  return bytes;
}
