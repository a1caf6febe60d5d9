import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  assertIsolateHostProcess,
  execWithIsolateHostFlags,
  ISOLATE_HOST_FLAGS,
} from './process-flags.ts';

const run = promisify(execFile);
const MODULE = new URL('./process-flags.ts', import.meta.url).href;
const SCRIPT = `import { assertIsolateHostProcess } from ${JSON.stringify(MODULE)};
process.stdout.write(JSON.stringify(assertIsolateHostProcess()));`;

/** Runs the check in a fresh Node process with `flags`; NODE_OPTIONS as given (none by default). */
async function check(
  flags: string[],
  nodeOptions?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      [...flags, '--input-type=module', '--eval', SCRIPT],
      { env, timeout: 10_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('assertIsolateHostProcess', () => {
  it('refuses a process started without --no-node-snapshot, naming the flag', async () => {
    const r = await check(['--max-semi-space-size=16']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('FLOTILLA_ERR_PROCESS_FLAGS');
    expect(r.stderr).toContain('--no-node-snapshot');
    expect(r.stdout).toBe('');
  });

  it('passes with no warning when every flag is set', async () => {
    const r = await check([...ISOLATE_HOST_FLAGS]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('warns about each speed flag missing when only --no-node-snapshot is set', async () => {
    const r = await check(['--no-node-snapshot']);
    expect(r.code).toBe(0);
    const warnings = JSON.parse(r.stdout) as string[];
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('--max-semi-space-size');
    expect(warnings[1]).toContain('--initial-old-space-size');
  });

  it('accepts the flags from NODE_OPTIONS (where Node allows them)', async () => {
    // Node refuses --initial-old-space-size in NODE_OPTIONS: it can only be a flag.
    const r = await check([], '--no-node-snapshot --max-semi-space-size=16');
    expect(r.code).toBe(0);
    const warnings = JSON.parse(r.stdout) as string[];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('--initial-old-space-size');
  });

  it('passes in this test process, which vitest starts with both flags', () => {
    expect(assertIsolateHostProcess()).toEqual([]);
  });
});

const REEXEC_SCRIPT = `import { execWithIsolateHostFlags } from ${JSON.stringify(MODULE)};
execWithIsolateHostFlags();
process.on('SIGTERM', () => { process.stdout.write('drained\\n'); process.exit(0); });
process.stdout.write(JSON.stringify({ pid: process.pid, execArgv: process.execArgv, argv: process.argv.slice(1) }) + '\\n');
setInterval(() => {}, 1000);`;

describe('execWithIsolateHostFlags', () => {
  it('re-executes the process with the missing flags: same PID, same arguments, signals still reach it', async () => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(
      process.execPath,
      ['--max-semi-space-size=8', '--input-type=module', '--eval', REEXEC_SCRIPT, 'a', 'b'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.setEncoding('utf8');
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const first = await new Promise<string>((resolve) => {
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
      });
    });
    const seen = JSON.parse(first) as { pid: number; execArgv: string[]; argv: string[] };
    expect(seen.pid).toBe(child.pid);
    // The missing flags are added; a value the caller chose is kept.
    expect(seen.execArgv).toEqual(
      expect.arrayContaining([
        '--no-node-snapshot',
        '--initial-old-space-size=64',
        '--max-semi-space-size=8',
      ]),
    );
    expect(seen.execArgv).not.toContain('--max-semi-space-size=16');
    expect(seen.argv).toEqual(['a', 'b']);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('drained');
  });

  it('does nothing in a process that has every flag (this one)', () => {
    expect(execWithIsolateHostFlags()).toBeUndefined();
  });
});

describe('missingIsolateHostPackages', () => {
  it('names none where the runtime was installed on Node 24 (this workspace)', async () => {
    const script = `import { missingIsolateHostPackages } from ${JSON.stringify(MODULE)};
process.stdout.write(JSON.stringify(missingIsolateHostPackages()));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '--eval', script], {
      timeout: 10_000,
    });
    expect(JSON.parse(stdout)).toEqual([]);
  });
});
