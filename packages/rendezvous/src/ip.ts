/**
 * IP text of records and cards, over @srmudp/wire's one IP parser (no `node:net`, so records
 * also work in browsers). Records print IPv6 in RFC 5952 §4 form with hex groups throughout,
 * IPv4-mapped addresses included (`::ffff:c000:201`), as records always have: decoding an old
 * record gives the same text.
 */
import { formatIp, parseIp } from '@srmudp/wire';

/** Parses a dotted-quad IPv4 literal into 4 bytes, or null. */
export function parseIPv4(text: string): Uint8Array | null {
  const b = parseIp(text);
  return b !== undefined && b.length === 4 ? b : null;
}

/** Parses an IPv6 literal (optionally with an embedded IPv4 tail, no zone id) into 16 bytes, or null. */
export function parseIPv6(text: string): Uint8Array | null {
  const b = parseIp(text);
  return b !== undefined && b.length === 16 ? b : null;
}

/** Formats 4 or 16 address bytes as record text (RFC 5952 §4 for IPv6, hex groups throughout). */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length !== 4 && bytes.length !== 16)
    throw new TypeError(`"bytes" expected Uint8Array of length 4 or 16, got length=${bytes.length}`);
  return formatIp(bytes, { mixedIpv4: false });
}

/** Canonical record text of an IP literal of the given family, or null when it is not one. */
export function canonicalIP(text: string, family: 4 | 6): string | null {
  const bytes = family === 4 ? parseIPv4(text) : parseIPv6(text);
  return bytes === null ? null : formatIP(bytes);
}
