/**
 * `flotilla init`: makes a directory a Flotilla app.
 *
 * - In an existing project (a `package.json`), it detects the framework
 *   (`detectFramework` of `@flotilla/sdk/build`), writes
 *   `flotilla.config.json` with what it found, and adds `@flotilla/sdk`
 *   (and `@flotilla/cli`) to `package.json` when missing.
 * - In an empty directory, it first scaffolds a minimal Router app from
 *   `cli/templates/<react|vue|none>/`, then does the same.
 *
 * It never replaces an existing file: `flotilla.config.json` only with
 * `--force`.
 *
 * @module
 */
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import { APP_NAME } from '@flotilla/protocol/patterns';
import {
  detectFramework,
  FRAMEWORKS,
  type FrameworkDetection,
  PROJECT_CONFIG_FILE,
  PROJECT_FRAMEWORKS,
  type ProjectFramework,
  readPackageJson,
} from '@flotilla/sdk/build';
import { appDir, type ControlCommand, type Ctx, out, str } from './context.ts';
import { booleanOptions, stringOptions } from './option-table.ts';

/** The templates `--template` names. */
export const INIT_TEMPLATES = Object.freeze(['react', 'vue', 'none'] as const);
type Template = (typeof INIT_TEMPLATES)[number];

/** Where editors find the config's JSON Schema once the SDK is installed. */
const CONFIG_SCHEMA = './node_modules/@flotilla/sdk/flotilla.config.schema.json';

/** Entry modules looked for, in order. */
const ENTRY_CANDIDATES = ['app', 'index'].flatMap((base) =>
  ['tsx', 'ts', 'jsx', 'js'].map((ext) => `src/${base}.${ext}`),
);

/** Files a directory may hold and still count as empty. */
const IGNORED_IN_EMPTY_DIR = new Set(['.git']);

/** The packages init adds when missing: where, and for what. */
const FLOTILLA_PACKAGES = [
  { name: '@flotilla/sdk', field: 'dependencies' },
  { name: '@flotilla/cli', field: 'devDependencies' },
] as const;

/** What `flotilla init` did, as `--json` prints it. */
interface InitResult {
  dir: string;
  /** The template scaffolded and the files it wrote, when the directory was empty. */
  scaffolded?: { template: Template; files: string[] };
  framework: ProjectFramework;
  /** How the framework was found: detected (with the evidence) or `--framework`. */
  detected: { evidence: string[] } | { option: '--framework'; evidence: string[] };
  config: Record<string, unknown>;
  /** The config file, and whether an existing one was replaced (`--force`). */
  configFile: string;
  replaced: boolean;
  /** The entry, when the framework needs one, and whether it exists yet. */
  entry?: { path: string; exists: boolean };
  /** Packages added to package.json (`name@range` in `field`). */
  added: { name: string; range: string; field: string }[];
  nextSteps: string[];
}

async function init(ctx: Ctx): Promise<number> {
  const dir = resolve(appDir(ctx));
  const name = appNameOption(str(ctx.values, 'name'));
  const template = oneOf('--template', str(ctx.values, 'template'), INIT_TEMPLATES);
  const framework = oneOf('--framework', str(ctx.values, 'framework'), PROJECT_FRAMEWORKS);
  const force = ctx.values.force === true;

  const entries = await listDir(dir);
  let scaffolded: InitResult['scaffolded'];
  if (!entries.includes('package.json')) {
    const other = entries.filter((entry) => !IGNORED_IN_EMPTY_DIR.has(entry));
    if (other.length > 0) {
      throw new InvalidOptionError(
        '--dir',
        `names ${dir}, which has no package.json but is not empty (${listed(other)}): flotilla init ` +
          'expects an existing project (a directory with a package.json) or an empty directory to ' +
          'scaffold a new app in',
      );
    }
    const chosen = template ?? 'react';
    const files = await scaffold(dir, chosen, name ?? appNameFrom(basename(dir)) ?? 'app');
    scaffolded = { template: chosen, files };
  } else if (template !== undefined) {
    throw new InvalidOptionError(
      '--template',
      `scaffolds a new app in an empty directory; ${dir} already has a package.json (leave --template out to set up this project)`,
    );
  }

  const result = await configure(dir, { name, framework, force, scaffolded });
  return out(ctx, result, report(result));
}

/** Detects, writes flotilla.config.json, adds the Flotilla packages. */
async function configure(
  dir: string,
  options: {
    name: string | undefined;
    framework: ProjectFramework | undefined;
    force: boolean;
    scaffolded: InitResult['scaffolded'];
  },
): Promise<InitResult> {
  const configFile = join(dir, PROJECT_CONFIG_FILE);
  const replaced = await exists(configFile);
  if (replaced && !options.force) {
    throw new FlotillaError(
      'FLOTILLA_ERR_CONFLICT',
      `${configFile} already exists: flotilla init does not overwrite it (--force replaces it)`,
    );
  }
  const pkg = await readPackageJson(dir);
  const detection = await detectFramework(dir);
  const framework = options.framework ?? decided(dir, detection);

  const name = options.name ?? appNameFrom(pkg?.name) ?? appNameFrom(basename(dir)) ?? 'app';
  let entry: InitResult['entry'];
  if (FRAMEWORKS[framework].entry) {
    const found = await firstExisting(dir, ENTRY_CANDIDATES);
    entry = found
      ? { path: found, exists: true }
      : { path: framework === 'react' ? 'src/app.tsx' : 'src/app.ts', exists: false };
  }
  const staticDir = (await stat(join(dir, 'public')).catch(() => undefined))?.isDirectory();
  const config = {
    $schema: CONFIG_SCHEMA,
    name,
    ...(entry ? { entry: entry.path } : {}),
    framework,
    backends: {},
    ...(staticDir ? { static: 'public' } : {}),
  };
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  const added = await addFlotillaPackages(dir);

  const nextSteps: string[] = [];
  const shown = relative(process.cwd(), dir);
  if (shown !== '') nextSteps.push(`cd ${shown.startsWith('..') ? dir : shown}`);
  if (entry && !entry.exists) nextSteps.push(`create ${entry.path}`);
  if (added.length > 0 || options.scaffolded) nextSteps.push('npm install');
  if (FRAMEWORKS[framework].supported) nextSteps.push('npx flotilla dev');

  return {
    dir,
    ...(options.scaffolded ? { scaffolded: options.scaffolded } : {}),
    framework,
    detected: options.framework
      ? { option: '--framework', evidence: detection.evidence }
      : { evidence: detection.evidence },
    config,
    configFile,
    replaced,
    ...(entry ? { entry } : {}),
    added,
    nextSteps,
  };
}

/** The detected framework, or an error that says why there is none. */
function decided(dir: string, detection: FrameworkDetection): ProjectFramework {
  if (detection.framework !== undefined) return detection.framework;
  const evidence = detection.evidence.length > 0 ? ` (${detection.evidence.join('; ')})` : '';
  throw new FlotillaError(
    'FLOTILLA_ERR_INVALID_OPTION',
    `cannot tell the framework of ${dir}: ${detection.problem}${evidence}; ` +
      `name it with --framework (one of ${PROJECT_FRAMEWORKS.join(', ')})`,
  );
}

/** The text `flotilla init` prints: what it found and why, what it wrote, what to do next. */
function report(result: InitResult): string {
  const lines: string[] = [];
  const rel = (path: string) => relative(result.dir, path) || '.';
  if (result.scaffolded) {
    const { template, files } = result.scaffolded;
    lines.push(
      `scaffolded an app from the ${template} template in ${result.dir}: ${files.join(', ')}`,
    );
  }
  const info = FRAMEWORKS[result.framework];
  const how = 'option' in result.detected ? 'from --framework' : 'detected';
  lines.push(`framework: ${result.framework} (${info.label}), ${how}`);
  for (const evidence of result.detected.evidence) lines.push(`  - ${evidence}`);
  if (!info.supported) {
    const supported = PROJECT_FRAMEWORKS.filter((f) => FRAMEWORKS[f].supported);
    lines.push(
      `  ${info.label} is not supported by flotilla build yet (it builds ${supported.join(', ')}): ` +
        'flotilla build will say so until it is',
    );
  }
  if (result.entry) {
    lines.push(
      result.entry.exists
        ? `entry: ${result.entry.path}`
        : `entry: ${result.entry.path} does not exist yet: create it; its default export is a ` +
            "Router from @flotilla/sdk (or a { fetch(request, env) } handler), see 'Write and " +
            "publish an app' in the Flotilla README",
    );
  }
  if (result.config.static) lines.push(`static files: ${String(result.config.static)}/`);
  lines.push(
    'backends: none yet; list the APIs the app fetches under "backends" (name → origin, ' +
      'e.g. "api": "https://api.example.com") and fetch them as backend://api/…',
  );
  lines.push(`${result.replaced ? 'replaced' : 'wrote'} ${rel(result.configFile)}`);
  if (result.added.length > 0) {
    const added = result.added.map((a) => `${a.name} ${a.range} (${a.field})`).join(', ');
    lines.push(`added ${added} to package.json: run npm install`);
  }
  lines.push('', 'Next steps:', ...result.nextSteps.map((step) => `  ${step}`));
  return `${lines.join('\n')}\n`;
}

/** Copies `common/` and the template into the empty `dir`; returns the files written. */
async function scaffold(dir: string, template: Template, name: string): Promise<string[]> {
  const version = await cliVersion();
  // `templates/`: `common/`, then one folder per template.
  const templates = join(await cliPackageDir(), 'templates');
  const written: string[] = [];
  for (const source of ['common', template]) {
    const root = join(templates, source);
    for (const file of await listFiles(root)) {
      const target = file === 'gitignore' ? '.gitignore' : file;
      const text = (await readFile(join(root, file), 'utf8'))
        .replaceAll('{{name}}', name)
        .replaceAll('{{version}}', version);
      await mkdir(dirname(join(dir, target)), { recursive: true });
      // `wx`: never replace a file, even one created since the directory was found empty.
      await writeFile(join(dir, target), text, { flag: 'wx' });
      written.push(target);
    }
  }
  return written;
}

/**
 * Adds `@flotilla/sdk` (dependencies) and `@flotilla/cli` (devDependencies)
 * to `<dir>/package.json` when it has neither form of them, keeping its
 * indentation.
 */
async function addFlotillaPackages(dir: string): Promise<InitResult['added']> {
  const pkg = await readPackageJson(dir);
  if (pkg === undefined) return [];
  const range = `^${await cliVersion()}`;
  const added: InitResult['added'] = [];
  const json = pkg.json;
  for (const { name, field } of FLOTILLA_PACKAGES) {
    if (Object.hasOwn(pkg.dependencies, name) || Object.hasOwn(pkg.devDependencies, name)) continue;
    const current = (json[field] ?? {}) as Record<string, string>;
    // Sorted by name, as npm keeps them.
    const entries: [string, string][] = [...Object.entries(current), [name, range]];
    json[field] = Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)));
    added.push({ name, range, field });
  }
  if (added.length > 0) {
    const text = await readFile(pkg.file, 'utf8');
    const indent = /^([ \t]+)"/m.exec(text)?.[1] ?? '  ';
    await writeFile(pkg.file, `${JSON.stringify(json, null, indent)}\n`);
  }
  return added;
}

/**
 * An app name made from a package or directory name: the scope dropped,
 * lower-cased, every run of other characters a `-`, at most 50
 * characters; `undefined` when nothing is left.
 *
 * @example appNameFrom('@acme/Shop_Front'); // 'shop-front'
 */
export function appNameFrom(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const name = raw
    .replace(/^@[^/]*\//, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 50)
    .replace(/-+$/, '');
  return APP_NAME.test(name) ? name : undefined;
}

function appNameOption(value: string | undefined): string | undefined {
  if (value !== undefined && !APP_NAME.test(value)) {
    throw new InvalidOptionError(
      '--name',
      `"${value}" must be 1-50 lower-case letters, digits or "-", not starting or ending with "-"`,
    );
  }
  return value;
}

function oneOf<const T extends string>(
  option: string,
  value: string | undefined,
  values: readonly T[],
): T | undefined {
  if (value !== undefined && !(values as readonly string[]).includes(value)) {
    throw new InvalidOptionError(option, `must be one of ${values.join(', ')} (got "${value}")`);
  }
  return value as T | undefined;
}

/**
 * The CLI package's directory (it holds `package.json` and `templates/`):
 * the first parent of this module with a `package.json`, so the same code
 * works from `src/` and from a built `dist/`.
 */
async function cliPackageDir(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(await exists(join(dir, 'package.json')))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('flotilla init: cannot find the CLI package directory');
    dir = parent;
  }
  return dir;
}

/** The CLI's own version, from its package.json. */
async function cliVersion(): Promise<string> {
  const file = join(await cliPackageDir(), 'package.json');
  return (JSON.parse(await readFile(file, 'utf8')) as { version: string }).version;
}

/** The entries of `dir`; none when it does not exist yet. */
async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new InvalidOptionError('--dir', `cannot be read: ${(error as Error).message}`);
  }
}

/** Every file under `root`, as `/`-separated relative paths, sorted. */
async function listFiles(root: string, prefix = ''): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(join(root, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(root, path)));
    else if (entry.isFile()) files.push(path);
  }
  return files.sort();
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

async function firstExisting(dir: string, candidates: string[]): Promise<string | undefined> {
  for (const candidate of candidates) {
    if ((await stat(join(dir, candidate)).catch(() => undefined))?.isFile()) return candidate;
  }
  return undefined;
}

/** `a, b, c` (at most five, then `…`). */
function listed(names: string[]): string {
  return names.length > 5 ? `${names.slice(0, 5).join(', ')}, …` : names.join(', ');
}

/** `flotilla init`, for the command table. */
export const initCommand: ControlCommand = {
  name: 'init',
  usage: `  flotilla init [--dir <dir>] [--name <app>] [--template react|vue|none] [--framework <f>] [--force]
      make --dir (default: the current directory) a Flotilla app. In a project (a package.json):
      detect its framework, write flotilla.config.json, add @flotilla/sdk and @flotilla/cli to
      package.json. In an empty directory: scaffold a Router app from --template (default react)
      first. --framework overrides detection; --force replaces an existing flotilla.config.json
`,
  options: { ...stringOptions('name', 'template', 'framework'), ...booleanOptions('force') },
  run: init,
};
