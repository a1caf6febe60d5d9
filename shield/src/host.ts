/**
 * Reading a `Host` header: the name a request is routed and keyed by, and
 * the port its render sees.
 *
 * @module
 */

/** The host name of a `Host` header: lower case, without the port (IPv6 literals keep their brackets). */
export function hostOnly(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** The port of a `Host` header (`''` for none). */
export function hostPort(hostHeader: string): string {
  const m = /:(\d+)$/.exec(hostHeader.trim());
  return m?.[1] ?? '';
}
