import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import { formatIP, parseIPv4, parseIPv6 } from '@srmudp/rendezvous';

/**
 * Who a request comes from, for rate limits, quotas and caps. An IPv4 client is its address; an
 * IPv6 client is its /64 (one subscriber usually holds a whole /64, so counting single IPv6
 * addresses would give an attacker 2^64 identities). The wider `prefix` (IPv4 /24, IPv6 /48)
 * bounds what one network can take.
 */
export interface Client {
  /** The address the limits are about (after X-Forwarded-For, when trusted). */
  readonly address: string;
  /** IPv4 address or IPv6 /64. */
  readonly key: string;
  /** IPv4 /24 or IPv6 /48. */
  readonly prefix: string;
}

/** Reverse proxies whose X-Forwarded-For is believed (see the README, "Behind a reverse proxy"). */
export interface TrustProxyOptions {
  /**
   * How many proxies append to X-Forwarded-For in front of this server. The client is the
   * entry `hops` places from the right: the one the outermost trusted proxy appended. Default 1.
   */
  readonly hops?: number;
  /**
   * Addresses or CIDR ranges the proxies connect from; X-Forwarded-For from any other peer is
   * ignored (a client reaching the server directly cannot choose its address). Default: loopback
   * and private ranges (127.0.0.0/8, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, ::1, fc00::/7).
   */
  readonly from?: readonly string[];
}

const DEFAULT_PROXIES = [
  '127.0.0.0/8',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '::1/128',
  'fc00::/7',
];

interface Range {
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/** Address bytes of an IP literal (IPv4-mapped IPv6 becomes IPv4), or null. */
function addressBytes(text: string): Uint8Array | null {
  const v4 = parseIPv4(text);
  if (v4 !== null) return v4;
  const v6 = parseIPv6(text);
  if (v6 === null) return null;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  return mapped ? v6.slice(12) : v6;
}

function parseRange(text: string): Range {
  const [addr = '', len] = text.split('/');
  const bytes = addressBytes(addr);
  const bits = len === undefined ? (bytes?.length ?? 0) * 8 : Number(len);
  if (bytes === null || !Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8)
    throw new TypeError(`"trustProxy.from" has an invalid address or range: ${JSON.stringify(text)}`);
  return { bytes, bits };
}

function inRange(a: Uint8Array, r: Range): boolean {
  if (a.length !== r.bytes.length) return false;
  for (let i = 0; i < r.bits; i++) {
    const bit = 0x80 >> (i & 7);
    if (((a[i >> 3] as number) & bit) !== ((r.bytes[i >> 3] as number) & bit)) return false;
  }
  return true;
}

function masked(a: Uint8Array, bits: number): string {
  const out = a.slice();
  for (let i = 0; i < out.length * 8; i++)
    if (i >= bits) out[i >> 3] = (out[i >> 3] as number) & ~(0x80 >> (i & 7));
  return `${formatIP(out)}/${bits}`;
}

function clientOf(bytes: Uint8Array): Client {
  const address = formatIP(bytes);
  if (bytes.length === 4) return { address, key: address, prefix: masked(bytes, 24) };
  return { address, key: masked(bytes, 64), prefix: masked(bytes, 48) };
}

/** One X-Forwarded-For entry as an address: "a.b.c.d", "a.b.c.d:port", "v6", "[v6]:port". */
function forwardedAddress(entry: string): Uint8Array | null {
  let t = entry.trim();
  if (t.startsWith('[')) t = t.slice(1, t.indexOf(']'));
  else if (t.includes('.') && t.includes(':') && !isIPv6(t)) t = t.slice(0, t.lastIndexOf(':'));
  return isIPv4(t) || isIPv6(t) ? addressBytes(t) : null;
}

/** Resolves the client of a request, honouring X-Forwarded-For only from trusted proxies. */
export function clientResolver(trust: boolean | number | TrustProxyOptions | undefined): {
  (req: IncomingMessage): Client;
  readonly trusts: (socketAddress: string | undefined) => boolean;
} {
  const options: TrustProxyOptions | null =
    trust === undefined || trust === false
      ? null
      : trust === true
        ? {}
        : typeof trust === 'number'
          ? { hops: trust }
          : trust;
  const hops = options?.hops ?? 1;
  if (options !== null && (!Number.isInteger(hops) || hops < 1 || hops > 16))
    throw new RangeError(`"trustProxy.hops" expected an integer 1..16, got ${String(hops)}`);
  const ranges = options === null ? [] : (options.from ?? DEFAULT_PROXIES).map(parseRange);
  const socketBytes = (req: IncomingMessage) =>
    addressBytes(req.socket.remoteAddress ?? '') ?? new Uint8Array(4);
  const trusts = (socketAddress: string | undefined): boolean => {
    if (options === null || socketAddress === undefined) return false;
    const b = addressBytes(socketAddress);
    return b !== null && ranges.some((r) => inRange(b, r));
  };
  const resolve = (req: IncomingMessage): Client => {
    const direct = socketBytes(req);
    if (options === null || !ranges.some((r) => inRange(direct, r))) return clientOf(direct);
    const header = req.headers['x-forwarded-for'];
    const text = Array.isArray(header) ? header.join(',') : (header ?? '');
    const entries = text.split(',').filter((e) => e.trim() !== '');
    // Each proxy appends the address it saw: the rightmost `hops` entries are written by our
    // proxies, everything left of them by the client (who can write anything).
    const entry = entries[entries.length - hops];
    const forwarded = entry === undefined ? null : forwardedAddress(entry);
    return clientOf(forwarded ?? direct);
  };
  return Object.assign(resolve, { trusts });
}
