/**
 * The example products API as a process of its own (so that serving it
 * takes no time from the bench's threads), for the ssr-throughput bench's
 * router+api rows. It exits with the bench (`--exit-with-parent`, and the
 * test harness kills it at exit).
 *
 * @module
 */
import { fileURLToPath } from 'node:url';
import { type ChildHandle, spawnProcess } from '@flotilla/test-harness';

const READY = /ready on (http:\/\/\S+)/;

/** A running products API process. */
export interface ProductsApiProcess {
  /** Its origin, `http://127.0.0.1:<port>`. */
  url: string;
  child: ChildHandle;
}

/** Starts the products API on a free port; resolves once it printed its ready line. */
export async function startProductsApiProcess(): Promise<ProductsApiProcess> {
  const script = fileURLToPath(import.meta.resolve('@flotilla/example-products-api/server'));
  const child = await spawnProcess({
    command: process.execPath,
    args: [script, '--port', '0', '--exit-with-parent'],
    name: 'products API',
    readyPattern: READY,
    readyTimeoutMs: 10_000,
  });
  const url = READY.exec(await child.waitForLine(READY, 1000))?.[1];
  if (!url) {
    await child.kill('SIGKILL');
    throw new Error('products API: no URL in its ready line');
  }
  return { url, child };
}
