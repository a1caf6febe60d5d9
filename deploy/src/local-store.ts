import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isSubjectToken, nonEmptyString } from '@flotilla/protocol';
import { DeployError } from './errors.ts';

/** An immutable, content-addressed deployment. */
export interface Deployment {
  /** `<app name>-<first 12 hex of the bundle hash>`. */
  id: string;
  /** App name from the manifest. */
  name: string;
  /** sha256 of `bundle.js`, hex. */
  bundleHash: string;
  /** Framework from the manifest. */
  framework: string;
}

/** Which deployment an app (environment) points at, and its hosts. */
export interface AppPointer {
  name: string;
  deploymentId: string;
  hosts: string[];
}

interface ManifestLike {
  name?: unknown;
  bundleHash?: unknown;
  framework?: unknown;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function writeAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * A deployment store on the local disk, for `flotilla start` on one machine:
 * `<root>/deployments/<id>/{bundle.js,manifest.json}` plus `<root>/apps.json`.
 * Deployments are content-addressed and written atomically (a temp directory
 * renamed into place), so a reader never sees half a deployment.
 * (The JetStream store of the publish issue replaces it across machines.)
 */
export class LocalDeploymentStore {
  readonly root: string;

  /** @param root directory of the store; created on first publish. */
  constructor(root: string) {
    this.root = resolve(nonEmptyString('root', root));
  }

  /** Directory holding one directory per deployment (what workers read). */
  get deploymentsDir(): string {
    return join(this.root, 'deployments');
  }

  /**
   * Publishes a built app (its `bundle.js` and `manifest.json`). Publishing
   * the same bundle twice returns the same deployment.
   *
   * @throws DeployError `FLOTILLA_ERR_BUNDLE` when the manifest is malformed
   * or its hash does not match the bundle.
   */
  async publish(build: { bundlePath: string; manifestPath: string }): Promise<Deployment> {
    const [bundle, manifestText] = await Promise.all([
      readFile(build.bundlePath),
      readFile(build.manifestPath, 'utf8'),
    ]);
    let manifest: ManifestLike;
    try {
      manifest = JSON.parse(manifestText) as ManifestLike;
    } catch (err) {
      throw new DeployError('FLOTILLA_ERR_BUNDLE', `${build.manifestPath} is not valid JSON`, {
        cause: err,
      });
    }
    const hash = createHash('sha256').update(bundle).digest('hex');
    if (typeof manifest.name !== 'string' || !isSubjectToken(manifest.name)) {
      throw new DeployError('FLOTILLA_ERR_BUNDLE', `${build.manifestPath} has no valid "name"`);
    }
    if (manifest.bundleHash !== hash) {
      throw new DeployError(
        'FLOTILLA_ERR_BUNDLE',
        `${build.manifestPath} says bundleHash ${String(manifest.bundleHash)} but bundle.js hashes to ${hash}`,
      );
    }
    const deployment: Deployment = {
      id: `${manifest.name}-${hash.slice(0, 12)}`,
      name: manifest.name,
      bundleHash: hash,
      framework: typeof manifest.framework === 'string' ? manifest.framework : 'none',
    };
    const dir = join(this.deploymentsDir, deployment.id);
    if (await exists(join(dir, 'manifest.json'))) return deployment;
    await mkdir(this.deploymentsDir, { recursive: true });
    const tmp = join(this.deploymentsDir, `.${deployment.id}.${randomBytes(4).toString('hex')}`);
    await mkdir(tmp);
    await writeFile(join(tmp, 'bundle.js'), bundle);
    await writeFile(join(tmp, 'manifest.json'), manifestText);
    try {
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      // Another process published the same content first: that is the same deployment.
      if (!(await exists(join(dir, 'manifest.json')))) throw err;
    }
    return deployment;
  }

  /** Points app `name` at `deploymentId`, served on `hosts`. */
  async setApp(pointer: AppPointer): Promise<void> {
    if (!(await exists(join(this.deploymentsDir, pointer.deploymentId, 'manifest.json')))) {
      throw new DeployError(
        'FLOTILLA_ERR_NOT_FOUND',
        `deployment ${pointer.deploymentId} is not in ${this.root}`,
      );
    }
    const apps = (await this.apps()).filter((a) => a.name !== pointer.name);
    apps.push({ name: pointer.name, deploymentId: pointer.deploymentId, hosts: pointer.hosts });
    apps.sort((a, b) => a.name.localeCompare(b.name));
    await mkdir(this.root, { recursive: true });
    await writeAtomic(join(this.root, 'apps.json'), `${JSON.stringify(apps, null, 2)}\n`);
  }

  /** The apps and the deployments they point at; empty when none are set. */
  async apps(): Promise<AppPointer[]> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'apps.json'), 'utf8');
    } catch {
      return [];
    }
    try {
      const parsed = JSON.parse(text) as AppPointer[];
      if (!Array.isArray(parsed)) throw new Error('not an array');
      return parsed;
    } catch (err) {
      throw new DeployError('FLOTILLA_ERR_BUNDLE', `${join(this.root, 'apps.json')} is malformed`, {
        cause: err,
      });
    }
  }
}
