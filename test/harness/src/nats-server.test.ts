import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, describe, expect, it } from 'vitest';
import { type NatsServerHandle, startNatsServer } from './nats-server.ts';
import { waitFor } from './wait-for.ts';

const servers: NatsServerHandle[] = [];
const connections: NatsConnection[] = [];

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close().catch(() => {})));
  await Promise.all(servers.map((server) => server.stop()));
});

async function start(jetstream = false): Promise<NatsServerHandle> {
  const server = await startNatsServer({ jetstream });
  servers.push(server);
  return server;
}

async function roundTrip(nc: NatsConnection, subject: string): Promise<string> {
  const sub = nc.subscribe(subject, {
    max: 1,
    callback: (_error, msg) => {
      msg.respond(`pong:${msg.string()}`);
    },
  });
  await nc.flush();
  const reply = await nc.request(subject, 'ping', { timeout: 2_000 });
  sub.unsubscribe();
  return reply.string();
}

describe('startNatsServer', () => {
  it('starts a real server on a loopback port and serves request/reply', async () => {
    const server = await start();
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    expect(server.port).toBeGreaterThan(0);
    expect(server.pid).toBeGreaterThan(0);
    expect(server.running).toBe(true);
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    expect(await roundTrip(nc, 'harness.echo')).toBe('pong:ping');
    await nc.close();
  });

  it('enables JetStream with a store dir inside its temp dir', async () => {
    const server = await start(true);
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    expect(nc.info?.jetstream).toBe(true);
    await nc.close();
    expect(server.storeDir).toBe(`${server.dir}/js`);
    await waitFor(() => existsSync(`${server.storeDir}/jetstream`), { timeoutMs: 2_000 });
    await server.stop({ keepData: true });
    expect(existsSync(`${server.storeDir}/jetstream`)).toBe(true);
    await server.stop();
    expect(existsSync(server.dir)).toBe(false);
  });

  it('restarts on the same port after stop, and a reconnecting client comes back', async () => {
    const server = await start();
    const { port, pid } = server;
    const nc = await connect({
      servers: server.url,
      reconnectTimeWait: 50,
      maxReconnectAttempts: -1,
    });
    connections.push(nc);
    expect(await roundTrip(nc, 'harness.before')).toBe('pong:ping');
    const reconnected = (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'reconnect') return;
      }
    })();

    await server.stop();
    await server.stop(); // idempotent
    expect(server.running).toBe(false);
    expect(existsSync(server.dir)).toBe(false);

    await server.restart();
    expect(server.running).toBe(true);
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(pid);

    const fresh = await connect({ servers: server.url });
    connections.push(fresh);
    expect(await roundTrip(fresh, 'harness.fresh')).toBe('pong:ping');
    await fresh.close();

    await reconnected;
    await nc.flush();
    expect(await roundTrip(nc, 'harness.after')).toBe('pong:ping');
    await nc.close();
  });

  it('kill(SIGKILL) resolves once the process is gone, and restart still works', async () => {
    const server = await start();
    const { pid } = server;
    await server.kill('SIGKILL');
    expect(server.running).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    await server.restart();
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    expect(await roundTrip(nc, 'harness.killed')).toBe('pong:ping');
    await nc.close();
  });

  it('includes a config file by absolute path, and reload() applies its changes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'harness-include-'));
    const include = join(dir, 'auth.conf');
    const users = (password: string) => `authorization { user: a, password: ${password} }\n`;
    await writeFile(include, users('first'));
    const server = await startNatsServer({ include });
    servers.push(server);
    const as = (pass: string) => connect({ servers: server.url, user: 'a', pass });
    await (await as('first')).close();
    await expect(as('second')).rejects.toThrow(/Authorization Violation/);
    await writeFile(include, users('second'));
    await server.reload();
    await (await as('second')).close();
    await expect(as('first')).rejects.toThrow(/Authorization Violation/);
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects with an install hint when the binary is missing', async () => {
    await expect(startNatsServer({ binary: '/nonexistent/nats-server' })).rejects.toThrow(
      /nats-server binary not found: \/nonexistent\/nats-server .*apt-get install -y nats-server.*NATS_SERVER_BIN/,
    );
  });
});
