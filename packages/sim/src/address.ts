/** A UDP endpoint: the same shape as node:dgram's `rinfo` (`{ address, port }` is spelled `host` here). */
export interface Address {
  host: string;
  port: number;
}

/** One datagram a node wants to send. */
export interface Transmit {
  to: Address;
  data: Uint8Array;
  /** Which of the node's own addresses (sockets) sends it; default: the node's primary address. */
  from?: Address;
}

/** Canonical map key of an address: `host:port` (IPv6 hosts are bracketed so the key is unambiguous). */
export function addressKey(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** True when both addresses name the same host and port. */
export function sameAddress(a: Address, b: Address): boolean {
  return a.host === b.host && a.port === b.port;
}

/** Throws a TypeError/RangeError unless `a` is a well-formed address (API misuse). */
export function checkAddress(a: Address, what: string): void {
  if (typeof a !== 'object' || a === null || typeof a.host !== 'string' || a.host.length === 0) {
    throw new TypeError(`"${what}" expected { host: string, port: number }, got ${String(a?.host)}`);
  }
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) {
    throw new RangeError(`"${what}.port" expected an integer in 0..65535, got ${a.port}`);
  }
}
