/**
 * `@flotilla/release`: the packaging of the publishable packages
 * (`./run pack`), for the tarball test and release scripts.
 *
 * @module
 */
export { type PackedPackage, type PackOptions, packAll, tarballName } from './pack.ts';
export {
  checkBuilt,
  checkPacked,
  PublishableManifestSchema,
  type PublishablePackage,
  REPO_ROOT,
  readPublishable,
} from './packages.ts';
