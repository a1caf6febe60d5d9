/**
 * Where `flotilla start` takes its options from besides the command line:
 * an operator's configuration file (`--config <file>` or `$FLOTILLA_CONFIG`,
 * YAML or JSON, one key per option) and `FLOTILLA_<OPTION>` environment
 * variables (`FLOTILLA_ROLE=worker`, `FLOTILLA_ADMIN_PORT=9464`,
 * `FLOTILLA_NO_CACHE=true`). The command line wins over the environment,
 * which wins over the file. All three end up as command-line arguments, so
 * every option is checked by the one parser, whatever its source.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { InvalidOptionError } from '@flotilla/protocol';
import { parse as parseYaml } from 'yaml';

/** An option table of `node:util` parseArgs (the start command's). */
type OptionTable = Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;

/**
 * Options read from their own variables with their own rules (a comma list
 * for the secrets keys), and the file itself.
 */
const OWN_VARIABLES = new Set(['config', 'creds', 'secrets-key']);

/** `FLOTILLA_<NAME>` of option `name`. */
export function variableOf(name: string): string {
  return `FLOTILLA_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** Options given on `args` (`--name value`, `--name=value`, `--switch`). */
function givenOn(args: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const arg of args) {
    if (arg === '--') break;
    const m = /^--([a-z][a-z0-9-]*)(=|$)/.exec(arg);
    if (m?.[1]) names.add(m[1]);
  }
  return names;
}

function valueAfter(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === `--${name}`) return args[i + 1];
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
  }
  return undefined;
}

function truth(value: unknown, where: string): boolean {
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  throw new InvalidOptionError(where, `must be true or false, got ${JSON.stringify(value)}`);
}

/** Arguments for one option of a file or variable. */
function argsFor(name: string, spec: OptionTable[string], value: unknown, where: string): string[] {
  if (spec.type === 'boolean') return truth(value, where) ? [`--${name}`] : [];
  const one = (v: unknown): string => {
    if (typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))) return String(v);
    throw new InvalidOptionError(where, `must be a string or a number, got ${JSON.stringify(v)}`);
  };
  if (spec.multiple) {
    const list = Array.isArray(value) ? value : [value];
    return list.flatMap((v) => [`--${name}`, one(v)]);
  }
  // A list for a comma-separated option (`trusted-proxies: [loopback, 10.0.0.0/8]`).
  const text = Array.isArray(value) ? value.map(one).join(',') : one(value);
  return [`--${name}`, text];
}

/** The options of the configuration file `file`, as arguments (those in `skip` left out). */
function fileArgs(file: string, options: OptionTable, skip: Set<string>): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidOptionError('--config', `cannot read ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new InvalidOptionError(
      '--config',
      `${file} is not YAML or JSON: ${(err as Error).message}`,
    );
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new InvalidOptionError('--config', `${file} must map option names to values`);
  }
  const out: string[] = [];
  for (const [key, value] of Object.entries(doc)) {
    const spec = options[key];
    if (!spec || key === 'config') {
      throw new InvalidOptionError(
        '--config',
        `${file}: "${key}" is not an option of flotilla start (its keys are the long option names, e.g. admin-port; see flotilla start --help)`,
      );
    }
    if (skip.has(key) || value === null) continue;
    out.push(...argsFor(key, spec, value, `${file}: ${key}`));
  }
  return out;
}

/**
 * `args` with the options of the configuration file and the `FLOTILLA_*`
 * variables of `env` put before them, each option from its strongest
 * source only (see the module documentation).
 */
export function withConfig(
  args: readonly string[],
  env: Record<string, string | undefined>,
  options: OptionTable,
): string[] {
  const onLine = givenOn(args);
  const fromEnv: string[] = [];
  const inEnv = new Set<string>();
  for (const [name, spec] of Object.entries(options)) {
    if (OWN_VARIABLES.has(name) || onLine.has(name)) continue;
    const value = env[variableOf(name)];
    if (value === undefined || value === '') continue;
    inEnv.add(name);
    fromEnv.push(...argsFor(name, spec, value, variableOf(name)));
  }
  const file = valueAfter(args, 'config') ?? env.FLOTILLA_CONFIG;
  const fromFile =
    file === undefined ? [] : fileArgs(file, options, new Set([...onLine, ...inEnv]));
  const merged = [...fromFile, ...fromEnv, ...args];
  // $FLOTILLA_NATS also tells the app developer's commands where the fleet
  // is: alone (no role from any source) it does not make this process a role.
  if (inEnv.has('nats') && !givenOn(merged).has('role')) {
    const i = merged.indexOf('--nats', fromFile.length);
    merged.splice(i, 2);
  }
  return merged;
}
