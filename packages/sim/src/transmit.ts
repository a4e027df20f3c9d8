import type { Address } from '@srmudp/wire';

/** One datagram a node wants to send. */
export interface Transmit {
  to: Address;
  data: Uint8Array;
  /** Which of the node's own addresses (sockets) sends it; default: the node's primary address. */
  from?: Address;
}

/**
 * Decides, for each datagram a host sends, whether it is lost on the way out: true drops it
 * (counted as `dropped.filter`, traced). `t` is the network's copy of the datagram, with its
 * source address resolved; `now` is the virtual time it is sent at. Set with
 * `Network.setSendFilter`: a test's "lose this kind of packet, then" without wrapping the node.
 */
export type SendFilter = (t: Readonly<Required<Transmit>>, now: number) => boolean;
