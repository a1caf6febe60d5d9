/**
 * A render raced against its request's deadline: past it the caller gets
 * `FLOTILLA_ERR_DEADLINE` while the render goes on in the background (still
 * under its wall and CPU limits).
 *
 * @module
 */
import { FlotillaError } from '@flotilla/protocol';

/**
 * `run`, or `FLOTILLA_ERR_DEADLINE` once epoch ms `deadline` passes, first
 * calling `onPassed(message)` (which tells the render to stop). `remainingMs`
 * is what the request had when the render started, for the message.
 */
export async function raceDeadline<T>(
  run: Promise<T>,
  deadline: number,
  remainingMs: number,
  deploymentId: string,
  onPassed: (message: string) => void,
): Promise<T> {
  run.catch(() => {}); // the caller may stop waiting first
  let timer: NodeJS.Timeout | undefined;
  const passed = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        const message = `render of ${deploymentId} did not finish before the request's deadline (${Math.round(remainingMs)} ms)`;
        reject(new FlotillaError('FLOTILLA_ERR_DEADLINE', message));
        onPassed(message);
      },
      // Less what the synchronous part of the render took.
      Math.max(0, deadline - Date.now()),
    );
  });
  try {
    return await Promise.race([run, passed]);
  } finally {
    clearTimeout(timer);
  }
}
