import type { Address } from './api.js';

/** Map key of an address. Hosts are compared as given (the driver passes canonical text). */
export function addressKey(a: Address): string {
  return `${a.host}|${a.port}`;
}

export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && a.host === b.host;
}

export function copyAddress(a: Address): Address {
  return { host: a.host, port: a.port };
}

/** Throws TypeError/RangeError unless `a` is `{ host: non-empty string, port: 0..65535 }`. */
export function checkAddress(a: unknown, what: string): asserts a is Address {
  const o = a as Address | null;
  if (typeof o !== 'object' || o === null || typeof o.host !== 'string' || o.host.length === 0) {
    throw new TypeError(`"${what}" expected { host: string, port: number }`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
    throw new RangeError(`"${what}.port" expected an integer in 0..65535, got ${o.port}`);
  }
}
