import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createTopology } from './netns.ts';

const run = promisify(execFile);

/** Namespaces that exist now. */
async function namespaces(): Promise<string> {
  return (await run('ip', ['netns', 'list'])).stdout;
}

/** Whether `ns` can open a TCP connection to `ip:port` within 2 s. */
async function reaches(ns: string, ip: string, port: number): Promise<boolean> {
  const script = `const s = require('net').connect(${port}, '${ip}'); s.setTimeout(2000);
    s.on('connect', () => process.exit(0)); s.on('error', () => process.exit(1)); s.on('timeout', () => process.exit(1));`;
  try {
    await run('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

describe('createTopology', () => {
  it('joins the hosts, cuts one off and brings it back, then leaves nothing behind', async () => {
    const topology = await createTopology({ hosts: 2 });
    const [a, b] = topology.hosts;
    if (a === undefined || b === undefined) throw new Error('two hosts expected');
    try {
      expect(await namespaces()).toContain(a.namespace);
      const server = await topology.spawn(b, {
        command: process.execPath,
        args: [
          '-e',
          `require('net').createServer(() => {}).listen(7000, '${b.ip}', () => console.log('listening'))`,
        ],
        readyPattern: /listening/,
      });
      try {
        expect(await reaches(a.namespace, b.ip, 7000)).toBe(true);
        // Loopback stays each host's own.
        expect(await reaches(a.namespace, '127.0.0.1', 7000)).toBe(false);
        await topology.setLink(b, false);
        expect(await reaches(a.namespace, b.ip, 7000)).toBe(false);
        await topology.setLink(b, true);
        expect(await reaches(a.namespace, b.ip, 7000)).toBe(true);
      } finally {
        await server.kill('SIGKILL');
      }
    } finally {
      await topology.destroy();
    }
    expect(await namespaces()).not.toContain(a.namespace);
  }, 60_000);

  it('refuses a host count out of range', async () => {
    await expect(createTopology({ hosts: 0 })).rejects.toThrow(/hosts/);
  });
});
