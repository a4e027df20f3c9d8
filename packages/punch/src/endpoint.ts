/**
 * Transport addresses. {@link Endpoint} has the shape of `@srmudp/sim`'s `Address` and is satisfied
 * by `@srmudp/wire`'s `IpAddress` (which adds `family`); the façade maps node:dgram's
 * `rinfo.address` to `host`.
 */
import { formatIp, type IpAddress, parseIp } from '@srmudp/wire';

export interface Endpoint {
  /** IPv4 or IPv6 text; an IPv6 zone (`fe80::1%eth0`) is kept as given */
  readonly host: string;
  readonly port: number;
}

/** Address family of an endpoint: 6 when the host contains ':', else 4. */
export function endpointFamily(e: Endpoint): 4 | 6 {
  return e.host.includes(':') ? 6 : 4;
}

/** Stable map key: `1.2.3.4:5` or `[::1]:5` (canonical host text). */
export function endpointKey(e: Endpoint): string {
  const h = normalizeAddress(e.host);
  return h.includes(':') ? `[${h}]:${e.port}` : `${h}:${e.port}`;
}

export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && (a.host === b.host || normalizeAddress(a.host) === normalizeAddress(b.host));
}

/** Canonical text of an address (RFC 5952 for IPv6); text that is not an address is returned lowercased. */
export function normalizeAddress(host: string): string {
  if (!host.includes(':')) return host;
  const zone = host.indexOf('%');
  const bare = zone >= 0 ? host.slice(0, zone) : host;
  const bytes = parseIp(bare);
  if (bytes === undefined) return host.toLowerCase();
  return zone >= 0 ? `${formatIp(bytes)}${host.slice(zone)}` : formatIp(bytes);
}

/** The wire codec's address form, or null when the host is not an IP address. */
export function toIpAddress(e: Endpoint): IpAddress | null {
  const zone = e.host.indexOf('%');
  const bytes = parseIp(zone >= 0 ? e.host.slice(0, zone) : e.host);
  if (bytes === undefined || !Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) return null;
  return { family: bytes.length === 4 ? 4 : 6, host: formatIp(bytes), port: e.port };
}

/** Plain endpoint from a wire address (drops `family`). */
export function fromIpAddress(a: IpAddress): Endpoint {
  return { host: a.host, port: a.port };
}

/** True for RFC 1918 / RFC 6598 (CGNAT) / loopback / link-local IPv4 and ULA / link-local / loopback IPv6. */
export function isPrivateAddress(host: string): boolean {
  const zone = host.indexOf('%');
  const b = parseIp(zone >= 0 ? host.slice(0, zone) : host);
  if (b === undefined) return false;
  if (b.length === 4) {
    const [x, y] = [b[0]!, b[1]!];
    return (
      x === 10 ||
      x === 127 ||
      (x === 172 && y >= 16 && y < 32) ||
      (x === 192 && y === 168) ||
      (x === 169 && y === 254) ||
      (x === 100 && y >= 64 && y < 128)
    );
  }
  if ((b[0]! & 0xfe) === 0xfc) return true; // fc00::/7 ULA
  if (b[0] === 0xfe && (b[1]! & 0xc0) === 0x80) return true; // fe80::/10
  return b.every((v, i) => (i === 15 ? v === 1 : v === 0)); // ::1
}

/** Order-independent key of a set of endpoints (change detection). */
export function endpointSetKey(es: readonly Endpoint[]): string {
  return es
    .map((e) => endpointKey(e))
    .sort()
    .join(',');
}

/**
 * Checks a list of IP endpoints given through the API (TypeError naming `what` and the index);
 * returns canonical copies without duplicates. `port0` allows port 0.
 */
export function checkEndpoints<T extends Endpoint>(list: readonly T[], what: string, port0 = false): T[] {
  if (!Array.isArray(list)) throw new TypeError(`"${what}" expected an array of IP endpoints`);
  const out: T[] = [];
  for (let i = 0; i < list.length; i++) {
    const e = list[i]!;
    const ip = toIpAddress(e);
    if (ip === null || (!port0 && ip.port === 0)) {
      throw new TypeError(
        `"${what}[${i}]" expected an IP endpoint, got ${String(e?.host)}:${String(e?.port)}`,
      );
    }
    const c = { ...e, host: ip.host, port: ip.port };
    if (!out.some((o) => sameEndpoint(o, c))) out.push(c);
  }
  return out;
}
