/** A structured log line. */
export type LogLine = Record<string, unknown>;

/** Writes log lines to stderr: `[role] msg key=value …`, or JSON lines. */
export function createLogger(
  role: string,
  format: 'text' | 'json' = 'text',
  out: NodeJS.WritableStream = process.stderr,
): (line: LogLine) => void {
  return (line) => {
    if (format === 'json') {
      out.write(`${JSON.stringify({ time: new Date().toISOString(), role, ...line })}\n`);
      return;
    }
    const { msg, ...rest } = line;
    const fields = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    out.write(`[${role}] ${String(msg ?? '')}${fields ? ` ${fields}` : ''}\n`);
  };
}
