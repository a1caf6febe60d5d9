import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkBuilt, checkPacked, readPublishable } from './packages.ts';

const roots: string[] = [];

afterEach(async () => {
  for (const root of roots.splice(0)) await rm(root, { recursive: true, force: true });
});

/** A publishable package.json that passes, with `changes` over it. */
function manifest(name: string, changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: `@flotilla/${name}`,
    version: '1.2.3',
    type: 'module',
    license: 'MIT',
    engines: { node: '>=20' },
    exports: { '.': './src/index.ts', './extra': './src/extra.ts' },
    files: ['dist'],
    publishConfig: {
      exports: {
        '.': { types: './dist/index.d.ts', default: './dist/index.js' },
        './extra': { types: './dist/extra.d.ts', default: './dist/extra.js' },
      },
    },
    ...changes,
  };
}

interface FakePackage {
  name: string;
  json?: Record<string, unknown>;
  /** Folders its tsconfig.build.json references. @default its @flotilla dependencies */
  refs?: string[];
  license?: string | false;
}

/** A repository with a root tsconfig.build.json referencing `packages`, a LICENSE and each package. */
async function fakeRepo(packages: FakePackage[]): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'flotilla-release-'));
  roots.push(root);
  const ref = (folder: string) => ({ path: `./${folder}/tsconfig.build.json` });
  await writeFile(
    join(root, 'tsconfig.build.json'),
    JSON.stringify({ files: [], references: packages.map((p) => ref(p.name)) }),
  );
  await writeFile(join(root, 'LICENSE'), 'MIT License\n');
  for (const p of packages) {
    const dir = join(root, p.name);
    const json = p.json ?? manifest(p.name);
    const deps = Object.keys((json.dependencies as Record<string, string>) ?? {})
      .filter((d) => d.startsWith('@flotilla/'))
      .map((d) => d.slice('@flotilla/'.length));
    await mkdir(dir);
    await writeFile(join(dir, 'package.json'), JSON.stringify(json));
    await writeFile(
      join(dir, 'tsconfig.build.json'),
      JSON.stringify({
        references: (p.refs ?? deps).map((f) => ({ path: `../${f}/tsconfig.build.json` })),
      }),
    );
    await writeFile(join(dir, 'README.md'), `# ${p.name}\n`);
    if (p.license !== false) await writeFile(join(dir, 'LICENSE'), p.license ?? 'MIT License\n');
  }
  return root;
}

describe('readPublishable', () => {
  it("reads this repository's packages in build order, one version for all", async () => {
    const packages = await readPublishable();
    const names = packages.map((p) => p.manifest.name);
    expect(names[0]).toBe('@flotilla/protocol');
    expect(names.at(-1)).toBe('@flotilla/cli');
    expect(names).toEqual(expect.arrayContaining(['@flotilla/sdk', '@flotilla/runtime']));
    expect(new Set(packages.map((p) => p.manifest.version)).size).toBe(1);
    // Build order: every package after its @flotilla dependencies.
    for (const [i, p] of packages.entries()) {
      for (const dep of Object.keys(p.manifest.dependencies)) {
        if (dep.startsWith('@flotilla/')) expect(names.indexOf(dep)).toBeLessThan(i);
      }
    }
  });

  it('accepts a package that follows the rules', async () => {
    const root = await fakeRepo([
      { name: 'a' },
      { name: 'b', json: manifest('b', { dependencies: { '@flotilla/a': 'workspace:*' } }) },
    ]);
    expect((await readPublishable(root)).map((p) => p.folder)).toEqual(['a', 'b']);
  });

  it.each<[string, FakePackage[], RegExp]>([
    [
      'a private package',
      [{ name: 'a', json: manifest('a', { private: true }) }],
      /a\/package\.json: private must be absent: the package is published \(got true\)/,
    ],
    [
      'another licence',
      [{ name: 'a', json: manifest('a', { license: 'ISC' }) }],
      /a\/package\.json: license must be "MIT"/,
    ],
    [
      'no dist in files',
      [{ name: 'a', json: manifest('a', { files: ['src'] }) }],
      /a\/package\.json: files must include "dist"/,
    ],
    [
      'a published export into src/',
      [
        {
          name: 'a',
          json: manifest('a', { publishConfig: { exports: { '.': './src/index.ts' } } }),
        },
      ],
      /a\/package\.json: publishConfig\.exports\.\. must be/,
    ],
    [
      'versions out of step',
      [{ name: 'a' }, { name: 'b', json: manifest('b', { version: '1.2.4' }) }],
      /b\/package\.json: version must be 1\.2\.3, as every published package \(got 1\.2\.4\)/,
    ],
    [
      'a dependency that is not published',
      [{ name: 'a', json: manifest('a', { dependencies: { '@flotilla/test-harness': '*' } }) }],
      /a\/package\.json: depends on @flotilla\/test-harness, which is not published/,
    ],
    [
      'a build that does not reference a dependency',
      [
        { name: 'a' },
        { name: 'b', json: manifest('b', { dependencies: { '@flotilla/a': '*' } }), refs: [] },
      ],
      /b\/tsconfig\.build\.json: references must be the package's @flotilla dependencies \(@flotilla\/a\), got none/,
    ],
    ['a missing LICENSE', [{ name: 'a', license: false }], /a\/LICENSE is missing \(copy it\)/],
    [
      'another LICENSE',
      [{ name: 'a', license: 'ISC License\n' }],
      /a\/LICENSE differs from the repository LICENSE/,
    ],
  ])('refuses %s, naming the file and field', async (_what, packages, message) => {
    const root = await fakeRepo(packages);
    await expect(readPublishable(root)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUILD',
      message: expect.stringMatching(message),
    });
  });
});

describe('checkBuilt', () => {
  it('names a published export the build did not produce', async () => {
    const root = await fakeRepo([{ name: 'a' }]);
    const [pkg] = await readPublishable(root);
    if (!pkg) throw new Error('no package');
    await mkdir(join(root, 'a', 'dist'));
    await writeFile(join(root, 'a', 'dist', 'index.js'), '');
    await writeFile(join(root, 'a', 'dist', 'index.d.ts'), '');
    await expect(checkBuilt(pkg)).rejects.toThrow(
      'pack: @flotilla/a: publishConfig.exports["./extra"] names ./dist/extra.d.ts, which the build did not produce',
    );
    await writeFile(join(root, 'a', 'dist', 'extra.js'), '');
    await writeFile(join(root, 'a', 'dist', 'extra.d.ts'), '');
    await expect(checkBuilt(pkg)).resolves.toBeUndefined();
  });

  it('names a built workspace export that is not published', async () => {
    const json = manifest('a');
    (json.publishConfig as { exports: Record<string, unknown> }).exports = {
      '.': { types: './dist/index.d.ts', default: './dist/index.js' },
    };
    const root = await fakeRepo([{ name: 'a', json }]);
    const [pkg] = await readPublishable(root);
    if (!pkg) throw new Error('no package');
    await mkdir(join(root, 'a', 'dist'));
    for (const f of ['index.js', 'index.d.ts', 'extra.js']) {
      await writeFile(join(root, 'a', 'dist', f), '');
    }
    await expect(checkBuilt(pkg)).rejects.toThrow(
      'pack: @flotilla/a: exports["./extra"] has no publishConfig.exports["./extra"] (its build is ./dist/extra.js)',
    );
  });
});

describe('checkPacked', () => {
  const packed = (changes: Record<string, unknown>) => ({
    name: '@flotilla/a',
    version: '1.2.3',
    exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
    dependencies: { '@flotilla/b': '1.2.3', valibot: '1.5.0' },
    ...changes,
  });

  it('accepts what pnpm pack writes', () => {
    expect(() => checkPacked(packed({}), '1.2.3', 'a.tgz')).not.toThrow();
  });

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a workspace: dependency',
      { dependencies: { '@flotilla/b': 'workspace:*' } },
      'a.tgz: package.json dependencies.@flotilla/b must be a version from the registry (got "workspace:*")',
    ],
    [
      'a file: dependency',
      { optionalDependencies: { x: 'file:../x' } },
      'optionalDependencies.x must be a version from the registry',
    ],
    [
      'a sibling at another version',
      { dependencies: { '@flotilla/b': '1.2.0' } },
      'a.tgz: package.json dependencies.@flotilla/b must be 1.2.3 (got 1.2.0)',
    ],
    ['the workspace exports', { exports: { '.': './src/index.ts' } }, 'exports.. must be'],
    ['private', { private: true }, 'private must be absent'],
  ])('refuses %s', (_what, changes, message) => {
    expect(() => checkPacked(packed(changes), '1.2.3', 'a.tgz')).toThrow(message);
  });
});
