/**
 * What punch adds to @srmudp/wire's `Address`: comparison and keys by canonical host text (STUN
 * servers and candidates come from users and records in any spelling), the STUN codec's
 * `IpAddress` form, private-range tests and the argument check of address lists.
 */
import {
  type Address,
  addressFamily,
  addressKey,
  canonicalAddress,
  canonicalHost,
  formatIp,
  type IpAddress,
  parseIp,
} from '@srmudp/wire';

/** Stable map key by canonical host text: `1.2.3.4:5` or `[::1]:5`. */
export function canonicalKey(a: Address): string {
  return addressKey(canonicalAddress(a));
}

/** Same port and the same host once both are in canonical text. */
export function equivalentAddress(a: Address, b: Address): boolean {
  return a.port === b.port && (a.host === b.host || canonicalHost(a.host) === canonicalHost(b.host));
}

/** The wire codec's address form, or null when the host is not an IP address. */
export function toIpAddress(e: Address): IpAddress | null {
  const zone = e.host.indexOf('%');
  const bytes = parseIp(zone >= 0 ? e.host.slice(0, zone) : e.host);
  if (bytes === undefined || !Number.isInteger(e.port) || e.port < 0 || e.port > 0xffff) return null;
  return { family: bytes.length === 4 ? 4 : 6, host: formatIp(bytes), port: e.port };
}

/** Plain address from a wire address (drops `family`). */
export function fromIpAddress(a: IpAddress): Address {
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

/** Order-independent key of a set of addresses (change detection). */
export function addressSetKey(es: readonly Address[]): string {
  return es
    .map((e) => canonicalKey(e))
    .sort()
    .join(',');
}

/**
 * Checks a list of IP addresses given through the API (TypeError naming `what` and the index);
 * returns canonical copies without duplicates. `port0` allows port 0.
 */
export function checkAddresses<T extends Address>(list: readonly T[], what: string, port0 = false): T[] {
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
    if (!out.some((o) => equivalentAddress(o, c))) out.push(c);
  }
  return out;
}

// Names of the first release, before the address type moved to @srmudp/wire (one vocabulary).
// Kept so code written against them still compiles; new code uses the names above.
/** @deprecated use `Address` from @srmudp/wire */
export type Endpoint = Address;
/** @deprecated use `addressFamily` from @srmudp/wire */
export const endpointFamily: (a: Address) => 4 | 6 = addressFamily;
/** @deprecated use `canonicalHost` from @srmudp/wire */
export const normalizeAddress: (host: string) => string = canonicalHost;
/** @deprecated use `canonicalKey` */
export const endpointKey: (a: Address) => string = canonicalKey;
/** @deprecated use `equivalentAddress` */
export const sameEndpoint: (a: Address, b: Address) => boolean = equivalentAddress;
