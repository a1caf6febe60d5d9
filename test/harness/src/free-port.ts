import { createServer } from 'node:net';

/**
 * Finds a TCP port that is free on 127.0.0.1 right now, by binding port 0,
 * reading the port the kernel chose and closing the socket again.
 *
 * Another process may take the port before you bind it; prefer binding port 0
 * yourself where you can (as {@link listen} does).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`freePort: unexpected server address ${String(address)}`));
        return;
      }
      const { port } = address;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}
