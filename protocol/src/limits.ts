/**
 * Size caps shared by the processes that enforce them: the control plane
 * refuses a publish over a cap before uploading anything, and workers refuse
 * to load what is over it, with the same number.
 *
 * @module
 */

/** Largest `bundle.js` a deployment may have, in bytes (10 MiB): refused at build, publish and load. */
export const MAX_BUNDLE_BYTES = 10 * 1024 * 1024;
