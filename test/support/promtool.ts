/**
 * Runs Prometheus' `promtool` (Debian's `prometheus` package ships it). A
 * missing promtool fails the calling test with the command that installs
 * it: these checks never skip.
 */
import { spawn } from 'node:child_process';

/** The promtool to run: `$FLOTILLA_PROMTOOL`, else `promtool` on the PATH. */
export const PROMTOOL = process.env.FLOTILLA_PROMTOOL ?? 'promtool';

/** How a promtool run ended. */
export interface PromtoolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `promtool …args` (in `cwd`) and resolves with its exit code and output. */
export function promtool(args: readonly string[], cwd?: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(cwd ? { cwd } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error(
              `promtool not found (${PROMTOOL}): install Debian's prometheus package (apt-get install -y prometheus, as .ci/run does) or set FLOTILLA_PROMTOOL`,
            )
          : err,
      );
    });
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
