import type { CoreErrorCode } from '@srmudp/core';
import { SrmudpError, type SrmudpErrorClass } from '@srmudp/wire';

/**
 * The codes a node's API throws or rejects with, its own and those of the layers it passes on
 * (`CoreErrorCode`: handshake and connection failures). The node's own: `NODE_CLOSED` (an older
 * spelling of `CLOSED`, kept because callers match on it; `isClosedError` matches every closed
 * code), `INVALID_OPTIONS`, `INVALID_TARGET`, `RESOLVE_FAILED`, `CONNECT_FAILED`, `NO_BACKEND`,
 * `ABORTED`, `IDLE_TIMEOUT`, `STREAM_RESET`, `STREAM_DESTROYED`; from NAT traversal
 * (@srmudp/punch): `UDP_BLOCKED`, `NO_STUN_SERVER`, `PUNCH_IMPOSSIBLE`, `PUNCH_TIMEOUT`.
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
  | 'STREAM_RESET'
  | 'STREAM_DESTROYED'
  | 'UDP_BLOCKED'
  | 'NO_STUN_SERVER'
  | 'PUNCH_IMPOSSIBLE'
  | 'PUNCH_TIMEOUT';

/** `SrmudpError` constructor restricted to NodeErrorCode (`new NodeError('…', message)`). */
export const NodeError: SrmudpErrorClass<NodeErrorCode> = SrmudpError;
