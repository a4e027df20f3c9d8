export type {
  Address,
  CongestionChoice,
  CongestionControllerFactory,
  ConnectionStats,
  PathInfo,
} from '@srmudp/core';
export { peerIdentityHex, samePeer } from '@srmudp/crypto';
export type { NatStatus, ReflexiveCandidate } from '@srmudp/punch';
export { DEFAULT_STUN_SERVERS } from '@srmudp/punch';
export { CLOSED_CODES, isClosedError, SrmudpError } from '@srmudp/wire';
export { AsyncQueue } from './async-queue.js';
export type { AddressTarget, NodeOptions, PeerTarget } from './config.js';
export { type CloseInfo, Connection } from './connection.js';
export { createNode } from './create-node.js';
export type { NodeErrorCode } from './errors.js';
export { type ConnectVia, Group, type GroupMessage, type GroupOptions } from './group.js';
export {
  type DialEvent,
  type NodeNat,
  type PeerEvent,
  type PeerStatus,
  type ReceivedMessage,
  SrmudpNode,
} from './node.js';
export { SrmudpStream } from './stream.js';
export type { WsRelayMode, WsRelayState, WsRelayStatus } from './ws-relays.js';
