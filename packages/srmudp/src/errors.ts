import type { CoreErrorCode } from '@srmudp/core';
import { SrmudpError, type SrmudpErrorClass } from '@srmudp/wire';

/**
 * The codes a node's API throws or rejects with, its own and those of the layers it passes on
 * (`CoreErrorCode`: handshake and connection failures). The node's own: `NODE_CLOSED` (an older
 * spelling of `CLOSED`, kept because callers match on it; `isClosedError` matches every closed
 * code), `INVALID_OPTIONS`, `INVALID_TARGET`, `RESOLVE_FAILED`, `CONNECT_FAILED`, `NO_BACKEND`,
 * `ABORTED`, `IDLE_TIMEOUT`, `PEER_GONE` (a relay reported the peer gone and it did not come back
 * within core's `relay.peerGoneGraceMs`), `STREAM_RESET`, `STREAM_DESTROYED`; from NAT traversal
 * (@srmudp/punch): `UDP_BLOCKED`, `NO_STUN_SERVER`, `PUNCH_IMPOSSIBLE`, `PUNCH_TIMEOUT`; what a
 * newcomer meets (issue 21): `OWN_CARD` (dialling this node itself), `UNKNOWN_PEER` (a name never
 * added), `CONNECT_TIMEOUT` / `PEER_TIMEOUT` (connect() / peers.ready() timeouts, the last dial
 * error as `cause`), `CONNECTION_CLOSED` (why a named peer left), `ADDRESS_IN_USE`,
 * `ADDRESS_UNAVAILABLE`, `ADDRESS_DENIED` (binding the socket).
 */
export type NodeErrorCode =
  | CoreErrorCode
  | 'NODE_CLOSED'
  | 'INVALID_OPTIONS'
  | 'INVALID_TARGET'
  | 'RESOLVE_FAILED'
  | 'CONNECT_FAILED'
  | 'NO_BACKEND'
  | 'ABORTED'
  | 'IDLE_TIMEOUT'
  | 'PEER_GONE'
  | 'STREAM_RESET'
  | 'STREAM_DESTROYED'
  | 'UDP_BLOCKED'
  | 'NO_STUN_SERVER'
  | 'PUNCH_IMPOSSIBLE'
  | 'PUNCH_TIMEOUT'
  | 'OWN_CARD'
  | 'UNKNOWN_PEER'
  | 'CONNECT_TIMEOUT'
  | 'PEER_TIMEOUT'
  | 'CONNECTION_CLOSED'
  | 'ADDRESS_IN_USE'
  | 'ADDRESS_UNAVAILABLE'
  | 'ADDRESS_DENIED';

/** `SrmudpError` constructor restricted to NodeErrorCode (`new NodeError('…', message)`). */
export const NodeError: SrmudpErrorClass<NodeErrorCode> = SrmudpError;
