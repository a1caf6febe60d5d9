import { describe, expect, it } from 'vitest';
import { spawnProcess } from './process.ts';

describe('spawnProcess', () => {
  it('resolves on the ready line and kill reports the signal', async () => {
    const child = await spawnProcess({
      command: process.execPath,
      args: ['-e', "console.log('ready'); setInterval(() => {}, 1000)"],
      readyPattern: /ready/,
      name: 'sleeper',
    });
    expect(child.pid).toBeGreaterThan(0);
    expect(child.name).toBe('sleeper');
    expect(child.output()).toContain('ready');
    expect(await child.waitForLine(/rea/, 100)).toBe('ready');
    const exit = await child.kill();
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await child.exited).toEqual(exit);
    expect(await child.kill()).toEqual(exit); // already exited: same status
  });

  it('collects stderr too and waits for later lines', async () => {
    const child = await spawnProcess({
      command: process.execPath,
      args: [
        '-e',
        "console.error('booting'); setTimeout(() => console.log('listening on 1234'), 50); setInterval(() => {}, 1000)",
      ],
      env: { HARNESS_TEST: '1' },
    });
    expect(await child.waitForLine(/listening on (\d+)/, 5_000)).toBe('listening on 1234');
    expect(child.output()).toBe('booting\nlistening on 1234');
    expect(await child.kill('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('rejects with the output when the process exits before it is ready', async () => {
    await expect(
      spawnProcess({
        command: process.execPath,
        args: ['-e', "console.log('config error: missing FOO'); process.exit(3)"],
        readyPattern: /ready/,
        name: 'broken',
      }),
    ).rejects.toThrow(/broken \(pid \d+\) exited \(code 3\).*\n.*config error: missing FOO/);
  });

  it('rejects with the output when the ready line does not come in time', async () => {
    await expect(
      spawnProcess({
        command: process.execPath,
        args: ['-e', "console.log('still starting'); setInterval(() => {}, 1000)"],
        readyPattern: /ready/,
        readyTimeoutMs: 300,
      }),
    ).rejects.toThrow(/no output line matched \/ready\/ within 300 ms.*\n.*still starting/);
  });

  it('with processGroup, signals the whole group and waits for its last process', async () => {
    // A parent that dies at once on SIGTERM and a child of its own that drains first, like npx
    // and the command it runs.
    const grandchild = `process.on('SIGTERM', () => { console.log('child draining'); setTimeout(() => { console.log('child done'); process.exit(0); }, 300); }); console.log('child ' + process.pid); setInterval(() => {}, 1000);`;
    const parent = `require('node:child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: 'inherit' }); setInterval(() => {}, 1000);`;
    const group = await spawnProcess({
      command: process.execPath,
      args: ['-e', parent],
      readyPattern: /^child \d+$/,
      processGroup: true,
    });
    const exit = await group.kill('SIGTERM');
    expect(exit).toEqual({ code: null, signal: 'SIGTERM' });
    // `exited` waited for the child, which held the output until it was done.
    expect(group.output()).toMatch(/child draining\nchild done$/);
  });

  it('rejects when the command does not exist', async () => {
    await expect(spawnProcess({ command: '/nonexistent/bin', args: [] })).rejects.toThrow(
      /could not start bin \(\/nonexistent\/bin\).*ENOENT/,
    );
  });
});
