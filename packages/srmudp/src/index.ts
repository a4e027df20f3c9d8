export type { Address, ConnectionStats, PathInfo } from '@srmudp/core';
export { SrmudpError } from '@srmudp/wire';
export { AsyncQueue } from './async-queue.js';
export { type CloseInfo, Connection } from './connection.js';
export type { DialVerdict, NatState, NatStatus, NatTraversal } from './nat/nat-traversal.js';
export {
  createNode,
  type DialEvent,
  type PeerEvent,
  type PeerStatus,
  type ReceivedMessage,
  SrmudpNode,
} from './node.js';
export type { AddressTarget, NodeOptions, PeerTarget } from './options.js';
export { SrmudpStream } from './stream.js';
