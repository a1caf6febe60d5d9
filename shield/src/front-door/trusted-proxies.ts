/**
 * Trusted proxies: the peers (a CDN's edge, a load balancer) whose
 * forwarding headers the shield believes. Matching uses Node's own
 * `net.BlockList`, which handles IPv4, IPv6 and IPv4-mapped IPv6
 * (`::ffff:10.0.0.1`) addresses.
 *
 * @module
 */
import { BlockList, isIP } from 'node:net';
import { InvalidOptionError } from '@flotilla/protocol';

/**
 * Names accepted in `trustedProxies` besides addresses and CIDR ranges.
 * - `loopback`: `127.0.0.0/8`, `::1/128`
 * - `private`: `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `fc00::/7`
 * - `linklocal`: `169.254.0.0/16`, `fe80::/10`
 */
export const TRUSTED_PROXY_ALIASES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  loopback: Object.freeze(['127.0.0.0/8', '::1/128']),
  private: Object.freeze(['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7']),
  linklocal: Object.freeze(['169.254.0.0/16', 'fe80::/10']),
});

/**
 * Reduces an address as found in a socket or a forwarding header to its
 * plain canonical form, or `undefined` when it is no IP address:
 * surrounding spaces and double quotes, `[…]` brackets, a `:port`, and an
 * IPv6 zone (`%eth0`) are removed; IPv6 is lower-cased and compressed;
 * IPv4-mapped IPv6 in dotted form (`::ffff:10.0.0.1`) becomes IPv4.
 *
 * @example
 * normalizeIp('[2001:DB8:0::1]:443'); // '2001:db8::1'
 * normalizeIp('203.0.113.9:51234');  // '203.0.113.9'
 * normalizeIp('unknown');            // undefined
 */
export function normalizeIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let v = value.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).trim();
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    if (end === -1) return undefined;
    const rest = v.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return undefined;
    v = v.slice(1, end);
  } else if (/^[0-9.]+:\d{1,5}$/.test(v)) {
    v = v.slice(0, v.indexOf(':'));
  }
  const zone = v.indexOf('%');
  if (zone !== -1) v = v.slice(0, zone);
  const family = isIP(v);
  if (family === 4) return v;
  if (family !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v);
  if (mapped?.[1] && isIP(mapped[1]) === 4) return mapped[1];
  // The URL parser serialises IPv6 the canonical way (RFC 5952).
  return new URL(`http://[${v}]/`).hostname.slice(1, -1);
}

/**
 * A set of trusted proxy addresses and ranges.
 *
 * @example
 * const proxies = new TrustedProxies(['loopback', '10.0.0.0/8', '2001:db8::/32']);
 * proxies.has('::ffff:10.1.2.3'); // true
 * proxies.has('203.0.113.9');     // false
 */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #count: number;

  /**
   * @param specs - IPv4/IPv6 addresses, CIDR ranges (`10.0.0.0/8`,
   *   `2001:db8::/32`) or {@link TRUSTED_PROXY_ALIASES} names.
   * @param option - Option name used in error messages.
   * @throws InvalidOptionError naming the bad entry (`trustedProxies[2]`).
   */
  constructor(specs: readonly string[] = [], option = 'trustedProxies') {
    if (!Array.isArray(specs)) {
      throw new InvalidOptionError(option, 'must be an array of addresses or CIDR ranges');
    }
    specs.forEach((spec, i) => {
      const name = `${option}[${i}]`;
      if (typeof spec !== 'string') {
        throw new InvalidOptionError(name, 'must be an address or a CIDR range');
      }
      const alias = Object.hasOwn(TRUSTED_PROXY_ALIASES, spec.trim().toLowerCase())
        ? TRUSTED_PROXY_ALIASES[spec.trim().toLowerCase()]
        : undefined;
      for (const entry of alias ?? [spec]) this.#add(entry, name);
    });
    this.#count = specs.length;
  }

  #add(spec: string, name: string): void {
    const text = spec.trim();
    const slash = text.indexOf('/');
    const address = slash === -1 ? text : text.slice(0, slash);
    const family = isIP(address);
    if (family === 0) {
      throw new InvalidOptionError(name, `is not an IP address or CIDR range: "${spec}"`);
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (slash === -1) {
      this.#list.addAddress(address, type);
      return;
    }
    const bitsText = text.slice(slash + 1);
    const bits = Number(bitsText);
    const max = family === 4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(bitsText) || bits > max) {
      throw new InvalidOptionError(name, `has a prefix length outside 0–${max}: "${spec}"`);
    }
    this.#list.addSubnet(address, bits, type);
  }

  /** How many entries were configured. */
  get size(): number {
    return this.#count;
  }

  /** True when `address` (any form {@link normalizeIp} accepts) is trusted. */
  has(address: string | undefined): boolean {
    if (this.#count === 0) return false;
    const ip = normalizeIp(address);
    if (ip === undefined) return false;
    return this.#list.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
  }
}
