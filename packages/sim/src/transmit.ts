import type { Address } from '@srmudp/wire';

/** One datagram a node wants to send. */
export interface Transmit {
  to: Address;
  data: Uint8Array;
  /** Which of the node's own addresses (sockets) sends it; default: the node's primary address. */
  from?: Address;
}
