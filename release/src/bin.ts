/**
 * `./run pack [--out <dir>]` (or `pnpm run pack`): builds and packs every
 * publishable package. Progress goes to stderr; stdout lists the tarballs,
 * one path per line. Exit codes: 0 packed, 1 failed, 2 bad usage.
 *
 * @module
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FlotillaError } from '@flotilla/protocol';
import { packAll } from './pack.ts';
import { REPO_ROOT } from './packages.ts';

/** Where the tarballs go by default (git-ignored, as every `dist/`). */
const DEFAULT_OUT = join(REPO_ROOT, 'dist', 'packages');

const USAGE = `usage: ./run pack [--out <dir>]

Builds dist/ of every publishable package and packs each into <dir>
(default: dist/packages), ready for npm install <tarball>.
`;

let out: string;
try {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    strict: true,
    options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  out = values.out ?? DEFAULT_OUT;
} catch (err) {
  process.stderr.write(`pack: ${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}

try {
  const packed = await packAll({
    outDir: out,
    onProgress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(packed.map((p) => `${p.tarball}\n`).join(''));
} catch (err) {
  const code = err instanceof FlotillaError ? `${err.code}: ` : '';
  process.stderr.write(`${code}${(err as Error).message}\n`);
  process.exit(1);
}
