/**
 * Whether a role process reaches NATS, read at every scrape.
 *
 * @module
 */
import { Gauge, type Registry } from 'prom-client';

/**
 * Registers `flotilla_nats_connected{role}` in `registry`: 1 while
 * `connected()` says the process's NATS client is connected, 0 while it is
 * not (an outage, a reconnect), read at every scrape. A second call on the
 * same registry adds the role's reader to the same gauge.
 */
export function exportNatsConnected(
  registry: Registry,
  role: string,
  connected: () => boolean,
): void {
  const existing = registry.getSingleMetric('flotilla_nats_connected') as Gauge<'role'> | undefined;
  const readers = existing ? readersOf.get(existing) : undefined;
  if (existing && readers) {
    readers.set(role, connected);
    return;
  }
  const own = new Map<string, () => boolean>([[role, connected]]);
  const gauge: Gauge<'role'> = new Gauge({
    name: 'flotilla_nats_connected',
    help: '1 while the process is connected to NATS, 0 while it is not (outage, reconnecting), by role.',
    labelNames: ['role'],
    registers: [registry],
    collect() {
      for (const [r, read] of own) {
        let up = false;
        try {
          up = read();
        } catch {
          // a failing reader counts as disconnected
        }
        gauge.set({ role: r }, up ? 1 : 0);
      }
    },
  });
  readersOf.set(gauge, own);
}

const readersOf = new WeakMap<Gauge<'role'>, Map<string, () => boolean>>();
