/**
 * Host side of the bundle's `console`: the guest rate-limits its output and
 * hands each line over; the host cuts it and tags it with the deployment and
 * the request that wrote it.
 */
import ivm from 'isolated-vm';

/** One line a bundle wrote with `console.*`. */
export interface GuestLogEntry {
  level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  message: string;
  deploymentId: string;
  requestId: string | undefined;
}

/** Longest line passed on, in UTF-16 units; the rest is cut. */
const MAX_LINE = 8192;

/** The callback the prelude's `console` calls, sending each line to `log` (or nowhere). */
export function consoleCallback(
  deploymentId: string,
  log: ((entry: GuestLogEntry) => void) | undefined,
): ivm.Callback {
  return new ivm.Callback(
    (level: GuestLogEntry['level'], message: string, requestId: string) => {
      log?.({
        level,
        message: String(message).slice(0, MAX_LINE),
        deploymentId,
        requestId: typeof requestId === 'string' && requestId !== '' ? requestId : undefined,
      });
    },
    { ignored: true },
  );
}
