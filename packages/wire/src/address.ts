/**
 * The one address type of srmudp: a UDP endpoint `{ host, port }`, the shape of node:dgram's
 * `rinfo` (its `address` is spelled `host`). Every layer passes it around; a host is IP text in
 * canonical form (what the codecs and the Node adapter produce), so equality and map keys compare
 * the text as given: {@link canonicalHost} turns any accepted spelling into that form.
 */
import { formatIp, parseIp } from './ip.js';

export interface Address {
  /** IPv4 or IPv6 text; an IPv6 zone (`fe80::1%eth0`) is kept as given */
  readonly host: string;
  readonly port: number;
}

/** An address whose family is known (the STUN codec's form). */
export interface IpAddress extends Address {
  readonly family: 4 | 6;
}

/** Map key of an address: `1.2.3.4:5` or `[::1]:5`. Hosts are compared as given. */
export function addressKey(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** Same host text and port. */
export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && a.host === b.host;
}

/** A plain copy (`{ host, port }` only): callers may keep or mutate it. */
export function copyAddress(a: Address): Address {
  return { host: a.host, port: a.port };
}

/** 6 when the host is IPv6 text (it contains ':'), else 4. */
export function addressFamily(a: Address): 4 | 6 {
  return a.host.includes(':') ? 6 : 4;
}

/**
 * Canonical text of a host (RFC 5952 for IPv6, with the zone kept); text that is not an IPv6
 * address is returned as given for IPv4 and lower-cased otherwise.
 */
export function canonicalHost(host: string): string {
  if (!host.includes(':')) return host;
  const zone = host.indexOf('%');
  const bytes = parseIp(zone >= 0 ? host.slice(0, zone) : host);
  if (bytes === undefined) return host.toLowerCase();
  return zone >= 0 ? `${formatIp(bytes)}${host.slice(zone)}` : formatIp(bytes);
}

/** The address with its host in canonical text ({@link canonicalHost}). */
export function canonicalAddress(a: Address): Address {
  return { host: canonicalHost(a.host), port: a.port };
}

/** Throws TypeError/RangeError unless `a` is `{ host: non-empty string, port: 0..65535 }` (API misuse). */
export function checkAddress(a: unknown, what: string): asserts a is Address {
  const o = a as Address | null;
  if (typeof o !== 'object' || o === null || typeof o.host !== 'string' || o.host.length === 0) {
    throw new TypeError(`"${what}" expected { host: string, port: number }, got ${String(o?.host)}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    throw new RangeError(`"${what}.port" expected an integer in 0..65535, got ${o.port}`);
  }
}
