import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { freePort, waitFor } from '@flotilla/test-harness';
import { afterEach, describe, expect, it } from 'vitest';
import { PRODUCTS } from './products.ts';
import { parseServerArgs } from './server.ts';

const SERVER = join(import.meta.dirname, 'server.ts');
const children: ChildProcess[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function run(args: string[], stdin: 'ignore' | 'pipe' = 'ignore'): Run {
  const child = spawn(process.execPath, [SERVER, ...args], { stdio: [stdin, 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    err += chunk;
  });
  const exit = once(child, 'exit').then(([code]) => code as number | null);
  return { child, stdout: () => out, stderr: () => err, exit };
}

describe('server.ts', () => {
  it('prints one ready line, serves, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const server = run(['--port', String(port)]);
    await waitFor(() => server.stdout().includes('\n'), {
      intervalMs: 20,
      message: 'timed out waiting for the ready line',
    });
    expect(server.stdout()).toBe(`products-api ready on http://127.0.0.1:${port}\n`);

    const res = await fetch(`http://127.0.0.1:${port}/products/1`);
    expect(await res.json()).toEqual(PRODUCTS[0]);

    server.child.kill('SIGTERM');
    expect(await server.exit).toBe(0);
    expect(server.stderr()).toBe('');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('with --exit-with-parent, closes and exits 0 when its stdin closes', async () => {
    const server = run(['--port', '0', '--exit-with-parent'], 'pipe');
    await waitFor(() => server.stdout().includes('\n'), {
      intervalMs: 20,
      message: 'timed out waiting for the ready line',
    });
    server.child.stdin?.end();
    expect(await server.exit).toBe(0);
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const port = await freePort();
    const first = run([`--port=${port}`]);
    await waitFor(() => first.stdout().includes('ready'), {
      intervalMs: 20,
      message: 'timed out waiting for the first server',
    });
    const second = run(['--port', String(port)]);
    expect(await second.exit).toBe(1);
    expect(second.stderr()).toContain(`cannot listen on 127.0.0.1:${port}`);
    expect(second.stdout()).toBe('');
  });

  it('exits 2 on a bad argument', async () => {
    const bad = run(['--port', 'x']);
    expect(await bad.exit).toBe(2);
    expect(bad.stderr()).toContain('option "--port" must be an integer 0–65535, got "x"');
    expect(bad.stderr()).toContain('usage:');
  });
});

describe('parseServerArgs', () => {
  it('reads --port and --host in both spellings, with defaults', () => {
    const base = { exitWithParent: false };
    expect(parseServerArgs([])).toEqual({ ...base, host: '127.0.0.1', port: 4001 });
    expect(parseServerArgs(['--port', '0'])).toEqual({ ...base, host: '127.0.0.1', port: 0 });
    expect(parseServerArgs(['--port=8080', '--host=::1'])).toEqual({
      ...base,
      host: '::1',
      port: 8080,
    });
    expect(parseServerArgs(['--exit-with-parent'])).toMatchObject({ exitWithParent: true });
    expect(parseServerArgs(['--help'])).toEqual({ help: true });
  });

  it('names the argument at fault', () => {
    expect(() => parseServerArgs(['--verbose'])).toThrow(/"--verbose" is not an argument/);
    expect(() => parseServerArgs(['--port'])).toThrow(/"--port" needs a value/);
    expect(() => parseServerArgs(['--port', '70000'])).toThrow(/"--port" must be an integer/);
    expect(() => parseServerArgs(['--host='])).toThrow(/"--host" needs a value/);
  });
});
