/**
 * `node:fs` read-only over a deployment's module map (see `module-map.ts`):
 * reads, `stat`s and listings answer from the files the build put in the
 * bundle, never from the host; every write throws, naming `node:fs`.
 *
 * @module
 */
import * as path from 'unenv/runtime/node/path/index';
import { Buffer } from './buffer.ts';
import type { ModuleLoader } from './module-map.ts';

/** The message of the error a write to `fs` throws. */
export const FS_WRITE_REFUSAL =
  "node:fs writes are not available in Flotilla's sandbox (the deployment's files are read-only)";

/** Calls that would change files: each throws {@link FS_WRITE_REFUSAL}. */
const WRITES = [
  'appendFile',
  'chmod',
  'chown',
  'copyFile',
  'cp',
  'createWriteStream',
  'link',
  'mkdir',
  'mkdtemp',
  'open',
  'rename',
  'rm',
  'rmdir',
  'symlink',
  'truncate',
  'unlink',
  'utimes',
  'watch',
  'watchFile',
  'write',
  'writeFile',
];

function fsError(code: string, syscall: string, file: string): Error {
  const error = new Error(`${code}: no such file or directory, ${syscall} '${file}'`) as Error & {
    code: string;
    syscall: string;
    path: string;
    errno: number;
  };
  error.code = code;
  error.syscall = syscall;
  error.path = file;
  error.errno = -2;
  return error;
}

function refuseWrite(): never {
  const error = new Error(FS_WRITE_REFUSAL) as Error & { code: string };
  error.code = 'EROFS';
  throw error;
}

/** A `Stats` of a map file or directory. */
function stats(isFile: boolean, size: number): Record<string, unknown> {
  const epoch = new Date(0);
  return {
    size,
    mode: isFile ? 0o100444 : 0o40555,
    mtime: epoch,
    ctime: epoch,
    atime: epoch,
    birthtime: epoch,
    mtimeMs: 0,
    isFile: () => isFile,
    isDirectory: () => !isFile,
    isSymbolicLink: () => false,
  };
}

/**
 * `node:fs` over `loader`'s files; relative paths against `cwd()`.
 * `fs.promises` and `node:fs/promises` are the same functions, async.
 */
export function createReadOnlyFs(loader: ModuleLoader, cwd: () => string): Record<string, unknown> {
  const abs = (file: unknown): string => {
    let name = String(file instanceof URL ? file.pathname : file);
    if (name.startsWith('file://')) name = new URL(name).pathname;
    return path.resolve(cwd(), name);
  };
  const readFileSync = (file: unknown, options?: unknown): string | Uint8Array => {
    const at = abs(file);
    const text = loader.text(at);
    if (text === undefined) {
      throw fsError(loader.isDir(at) ? 'EISDIR' : 'ENOENT', 'open', at);
    }
    const encoding =
      typeof options === 'string' ? options : (options as { encoding?: string })?.encoding;
    return encoding ? text : Buffer.from(text, 'utf8');
  };
  const statSync = (file: unknown, options?: { throwIfNoEntry?: boolean }) => {
    const at = abs(file);
    if (loader.has(at)) return stats(true, loader.text(at)?.length ?? 0);
    if (loader.isDir(at)) return stats(false, 0);
    if (options?.throwIfNoEntry === false) return undefined;
    throw fsError('ENOENT', 'stat', at);
  };
  const existsSync = (file: unknown): boolean => {
    const at = abs(file);
    return loader.has(at) || loader.isDir(at);
  };
  const readdirSync = (dir: unknown): string[] => {
    const at = abs(dir);
    if (!loader.isDir(at)) throw fsError('ENOENT', 'scandir', at);
    return loader.list(at);
  };
  const realpathSync = Object.assign((file: unknown) => abs(file), {
    native: (file: unknown) => abs(file),
  });
  const accessSync = (file: unknown): void => {
    if (!existsSync(file)) throw fsError('ENOENT', 'access', abs(file));
  };
  const sync: Record<string, (...args: never[]) => unknown> = {
    readFileSync,
    statSync,
    lstatSync: statSync,
    existsSync,
    readdirSync,
    realpathSync,
    accessSync,
  };
  const promises: Record<string, unknown> = {};
  const fs: Record<string, unknown> = {
    ...sync,
    promises,
    constants: { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1 },
  };
  for (const [name, fn] of Object.entries(sync)) {
    const base = name.replace(/Sync$/, '');
    if (base === 'exists') continue;
    const call = fn as (...args: unknown[]) => unknown;
    promises[base] = async (...args: unknown[]) => call(...args);
    fs[base] = (...args: unknown[]) => {
      const callback = args.pop() as (error: unknown, value?: unknown) => void;
      let value: unknown;
      try {
        value = call(...args);
      } catch (error) {
        queueMicrotask(() => callback(error));
        return;
      }
      queueMicrotask(() => callback(null, value));
    };
  }
  for (const name of WRITES) {
    fs[name] = refuseWrite;
    fs[`${name}Sync`] = refuseWrite;
    promises[name] = async () => refuseWrite();
  }
  fs.default = fs;
  promises.default = promises;
  return fs;
}
