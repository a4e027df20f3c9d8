export type { AddressFamily, TransportAddress } from './address.js';
export { mapIPv4, unmapIPv4 } from './address.js';
export type { GsoBinding, GsoStatus } from './gso.js';
export { gsoStatus } from './gso.js';
export type { LocalInterfaceAddress, LocalInterfacesOptions } from './local-interfaces.js';
export { localInterfaces } from './local-interfaces.js';
export type {
  PoolDatagramHandler,
  PoolErrorHandler,
  UdpSocketPoolOptions,
} from './socket-pool.js';
export { poolHostFor, UdpSocketPool } from './socket-pool.js';
export type {
  BufferSizes,
  DatagramHandler,
  ErrorHandler,
  TransportError,
  TransportStats,
  UdpTransportOptions,
} from './udp-transport.js';
export { UdpTransport } from './udp-transport.js';
