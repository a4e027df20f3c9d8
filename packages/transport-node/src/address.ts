import { isIPv4, isIPv6 } from 'node:net';

/** Address family as reported by node:dgram. */
export type AddressFamily = 'IPv4' | 'IPv6';

/** A UDP endpoint address: an IP literal (never a hostname), a port and its family. */
export interface TransportAddress {
  readonly host: string;
  readonly port: number;
  readonly family: AddressFamily;
}

const MAPPED_PREFIX = '::ffff:';

/**
 * Strips the IPv4-mapped IPv6 prefix (RFC 4291 §2.5.5.2) so a dual-stack socket reports an IPv4
 * peer as '1.2.3.4', the same string an IPv4 socket reports: the core keys paths by address text.
 */
export function unmapIPv4(host: string): string {
  // Cheap prefix test first: this runs for every received datagram on a udp6 socket.
  if (host.length > 7 && host.charCodeAt(0) === 58 && host.toLowerCase().startsWith(MAPPED_PREFIX)) {
    const rest = host.slice(MAPPED_PREFIX.length);
    if (isIPv4(rest)) return rest;
  }
  return host;
}

/**
 * The IPv4 peer a received datagram's source stands for when a dual-stack socket (`dualStack`)
 * reports it IPv4-mapped ({@link unmapIPv4}), else null: the source is reported as it came. The one
 * rule for both ways of reading; {@link sourceAddress} wraps it for callers that need the address.
 */
export function mappedIPv4Source(host: string, family: AddressFamily, dualStack: boolean): string | null {
  if (!dualStack || family !== 'IPv6') return null;
  const v4 = unmapIPv4(host);
  return v4 !== host ? v4 : null;
}

/** A received datagram's source as the transport reports it ({@link mappedIPv4Source}). */
export function sourceAddress(
  host: string,
  port: number,
  family: AddressFamily,
  dualStack: boolean,
): TransportAddress {
  const v4 = mappedIPv4Source(host, family, dualStack);
  return v4 !== null ? { host: v4, port, family: 'IPv4' } : { host, port, family };
}

/** '1.2.3.4' -> '::ffff:1.2.3.4' for sending through a dual-stack udp6 socket. */
export function mapIPv4(host: string): string {
  return MAPPED_PREFIX + host;
}

/** Family of an IP literal, or undefined when it is not one (hostnames are not accepted). */
export function familyOf(host: string): AddressFamily | undefined {
  if (isIPv4(host)) return 'IPv4';
  if (isIPv6(host)) return 'IPv6';
  return undefined;
}
