/**
 * The `flotilla` CLI: `start` and `dev` (which host isolates), and the app
 * developer's commands of the table in `commands.ts`. Each is loaded only
 * when it runs, so a worker process never loads the build toolchain, and
 * the app developer's commands never load isolated-vm: they run on Node 20
 * or later, `start` and `dev` on Node 24 only.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import {
  execWithIsolateHostFlags,
  ISOLATE_HOST_NODE_MAJOR,
  missingIsolateHostPackages,
} from '@flotilla/runtime/process-flags';
import type { CommandIo } from './commands/context.ts';
import { DEV_USAGE, START_USAGE } from './commands/usage.ts';

/** A command as the CLI runs it. */
interface Runnable {
  run(args: string[], io: CommandIo): Promise<number>;
}

/** One entry of the CLI's table. */
interface CliCommand {
  /**
   * It runs isolates in this process: the CLI checks that this Node can host
   * them and gives the process the isolate-host Node flags before loading it.
   */
  hostsIsolates: boolean;
  /** What `flotilla <name> --help` prints; `undefined` when there is no such command. */
  help(): Promise<string | undefined>;
  /** Loads the command. */
  load(): Promise<Runnable>;
}

/** The app developer's command `name`, from the table in `commands.ts`. */
function controlCommand(name: string): CliCommand {
  const table = () => import('./commands.ts');
  return {
    hostsIsolates: false,
    help: async () => {
      const t = await table();
      return t.commandHelp(name);
    },
    load: async () => {
      const t = await table();
      return { run: (args, io) => t.runCommand(name, args, io) };
    },
  };
}

/** A command that hosts isolates: its usage, and `load` imports its `run`. */
function isolateHostCommand(usage: string, load: () => Promise<Runnable['run']>): CliCommand {
  return {
    hostsIsolates: true,
    help: async () => usage,
    load: async () => ({ run: await load() }),
  };
}

/** The command called `name`. */
function commandNamed(name: string): CliCommand {
  switch (name) {
    case 'start':
      return isolateHostCommand(
        START_USAGE,
        async () => (await import('./commands/start.ts')).runStart,
      );
    case 'dev':
      return isolateHostCommand(DEV_USAGE, async () => (await import('./commands/dev.ts')).runDev);
    default:
      return controlCommand(name);
  }
}

/** The first lines of `flotilla --help`, and all that a bare `flotilla` prints. */
async function overview(): Promise<string> {
  const table = await import('./commands.ts');
  return `Usage: flotilla <command> [options]
       flotilla <command> --help   that command's options only
       flotilla --version          the CLI's version (also -V)

${wrap(`Commands: start and dev (a fleet on this machine), ${table.CONTROL_COMMANDS.join(', ')}.`)}
`;
}

/** `text` broken into lines of at most 100 characters, at spaces. */
function wrap(text: string): string {
  return text.replace(/(.{1,100})(?: |$)/g, '$1\n').trimEnd();
}

/** `flotilla --help`: the overview, `start`, `dev`, then the app developer's commands. */
async function usage(): Promise<string> {
  const table = await import('./commands.ts');
  return `${await overview()}\n${START_USAGE}\n${DEV_USAGE}\n${table.COMMANDS_USAGE}`;
}

/** The CLI's version, from its package.json (beside src/ and dist/ alike). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** `argv` as a shell command line to copy. */
function shellLine(argv: string[]): string {
  return argv
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(' ');
}

/**
 * Why this Node cannot run `flotilla <argv>`, a command that hosts isolates,
 * with the commands that fix it; `undefined` when it can.
 */
function isolateHostProblem(argv: string[]): string | undefined {
  const node = process.versions.node;
  const onHostNode = Number(node.split('.')[0]) === ISOLATE_HOST_NODE_MAJOR;
  const missing = missingIsolateHostPackages();
  if (onHostNode && missing.length === 0) return undefined;
  const withNode = `npx -y -p node@${ISOLATE_HOST_NODE_MAJOR} --`;
  const lines = [
    onHostNode
      ? `flotilla ${argv[0]} runs apps in isolates and needs ${missing.join(', ')}, which npm ` +
        `leaves out whenever it runs on another Node than ${ISOLATE_HOST_NODE_MAJOR} ` +
        `(it last did here). Install them with Node ${ISOLATE_HOST_NODE_MAJOR}:`
      : `flotilla ${argv[0]} runs apps in isolates (isolated-vm), which need Node ` +
        `${ISOLATE_HOST_NODE_MAJOR}; this is Node ${node}. Run it with Node ` +
        `${ISOLATE_HOST_NODE_MAJOR} from npm:`,
  ];
  if (missing.length > 0) {
    lines.push(
      `  ${withNode} npm install${onHostNode ? '' : `      (adds ${missing.join(', ')})`}`,
    );
  }
  if (!onHostNode) {
    lines.push(
      `  ${withNode} flotilla ${shellLine(argv)}`,
      'build, publish and the other commands run on Node 20 or later.',
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Runs the `flotilla` CLI. Resolves with the exit code once the process
 * should exit (after draining on SIGTERM / SIGINT). A command that hosts
 * isolates first checks that this Node can host them (else it prints how to
 * run it and resolves with 1) and gives the process the isolate-host Node
 * flags it lacks (re-executing it, same PID).
 */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // No command is a usage error, which a script must not take for success.
    process.stderr.write(`${await overview()}\nflotilla --help shows every command's options.\n`);
    return 2;
  }
  if (name === '-V' || name === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    const help = topic === undefined ? await usage() : await commandNamed(topic).help();
    if (help === undefined) return unknownCommand(topic as string);
    process.stdout.write(help);
    return 0;
  }
  const command = commandNamed(name);
  const help = await command.help();
  if (help === undefined) return unknownCommand(name);
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(help);
    return 0;
  }
  if (command.hostsIsolates) {
    const problem = isolateHostProblem(argv);
    if (problem !== undefined) {
      process.stderr.write(problem);
      return 1;
    }
    execWithIsolateHostFlags();
  }
  const runnable = await command.load();
  return runnable.run(rest, {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    stdin: readStdin,
  });
}

function unknownCommand(name: string): number {
  process.stderr.write(`flotilla: unknown command "${name}" (flotilla --help lists them)\n`);
  return 2;
}

/** Standard input to its end (a terminal: prompts on stderr; Ctrl-D ends it). */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('value (end with Ctrl-D): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
