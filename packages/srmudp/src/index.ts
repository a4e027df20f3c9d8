export type {
  Address,
  CongestionChoice,
  CongestionControllerFactory,
  ConnectionStats,
  PathInfo,
} from '@srmudp/core';
export { CLOSED_CODES, isClosedError, SrmudpError } from '@srmudp/wire';
export { AsyncQueue } from './async-queue.js';
export type { AddressTarget, NodeOptions, PeerTarget } from './config.js';
export { type CloseInfo, Connection } from './connection.js';
export type { NodeErrorCode } from './errors.js';
export type { DialVerdict, NatState, NatStatus, NatTraversal } from './nat/nat-traversal.js';
export { createNode, type PeerStatus, type ReceivedMessage, SrmudpNode } from './node.js';
export { SrmudpStream } from './stream.js';
