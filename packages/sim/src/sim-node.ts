import type { Address } from '@srmudp/wire';
import type { Transmit } from './transmit.js';

/**
 * Any sans-IO endpoint, adapted (quinn-proto's shape): inputs are `handle` and `handleTimeout`,
 * outputs are drained with `pollTransmit` until null and `pollTimeout`. The network calls
 * nothing else and never calls these re-entrantly.
 */
export interface SimNode {
  /** A datagram arrived at local address `to` from `from` (as seen after any NAT rewriting). */
  handle(now: number, from: Address, to: Address, data: Uint8Array): void;
  /** The timer returned by `pollTimeout` expired (`now >= timeout`). */
  handleTimeout(now: number): void;
  /** Next datagram to send, or null when there is none now. */
  pollTransmit(now: number): Transmit | null;
  /** Absolute time (ms) of the next timer, or null for none. */
  pollTimeout(): number | null;
}
