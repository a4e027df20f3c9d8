import type { Address } from '@srmudp/wire';

/**
 * A datagram the caller must send. `socket` names the local socket it leaves from (quinn's
 * `src_ip` idea): 0 is the node's main socket; other ids are pool sockets the host bound for the
 * birthday strategy on the NAT session's `open_sockets` request.
 */
export interface Transmit {
  readonly to: Address;
  readonly data: Uint8Array;
  readonly socket: number;
}

/** Source of randomness: returns `n` fresh random bytes (a CSPRNG in production, seeded in tests). */
export type RandomBytes = (n: number) => Uint8Array;

export function checkRandom(random: unknown): asserts random is RandomBytes {
  if (typeof random !== 'function')
    throw new TypeError('"random" expected function (n: number) => Uint8Array');
}

export function checkNow(now: number): void {
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new TypeError(`"now" expected finite number, got ${String(now)}`);
  }
}
