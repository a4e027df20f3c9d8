export type { Address, ConnectionStats, PathInfo } from '@srmudp/core';
export type { NatStatus, ReflexiveCandidate } from '@srmudp/punch';
export { DEFAULT_STUN_SERVERS } from '@srmudp/punch';
export { SrmudpError } from '@srmudp/wire';
export { AsyncQueue } from './async-queue.js';
export { type CloseInfo, Connection } from './connection.js';
export {
  createNode,
  type DialEvent,
  type NodeNat,
  type PeerEvent,
  type PeerStatus,
  type ReceivedMessage,
  SrmudpNode,
} from './node.js';
export type { AddressTarget, NodeOptions, PeerTarget } from './options.js';
export { SrmudpStream } from './stream.js';
