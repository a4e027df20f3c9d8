import { SrmudpError, type SrmudpErrorClass } from '@srmudp/wire';

/**
 * Codes @srmudp/core throws or reports (`connect_failed`). `CLOSED`: closed before it was
 * established, or before its 'connected' was polled (`cause`: the close, `ClosedWhileConnecting`),
 * or the endpoint closed; `ENDPOINT_CLOSED` (connect() on a closed endpoint) and
 * `CONNECTION_CLOSED` (an operation on a closed connection) are older spellings of `CLOSED` that
 * callers match on, kept as aliases (wire's `isClosedError` matches all three). The others:
 * `NOT_CONNECTED` (streams before establishment), `LIMIT` (maxConnections), `HANDSHAKE_TIMEOUT`,
 * `HANDSHAKE_FAILED`, `REFUSED` (the peer's accept policy), `SESSION_EXPIRED`, `UNREACHABLE`
 * (every candidate refused), `ALREADY_CONNECTED` (an XX dial reached a peer we have a
 * connection to; `cause` names it), `INVALID_PEER_ID`, `RELAY_REFUSED` (a relay-only dial whose
 * every relay refused the circuit; `cause` is the relay's reason).
 */
export type CoreErrorCode =
  | 'CLOSED'
  | 'ENDPOINT_CLOSED'
  | 'CONNECTION_CLOSED'
  | 'NOT_CONNECTED'
  | 'LIMIT'
  | 'HANDSHAKE_TIMEOUT'
  | 'HANDSHAKE_FAILED'
  | 'REFUSED'
  | 'SESSION_EXPIRED'
  | 'UNREACHABLE'
  | 'ALREADY_CONNECTED'
  | 'INVALID_PEER_ID'
  | 'RELAY_REFUSED';

export type CoreError = SrmudpError<CoreErrorCode>;

/** `SrmudpError` constructor restricted to CoreErrorCode (`new CoreError('…', message)`). */
export const CoreError: SrmudpErrorClass<CoreErrorCode> = SrmudpError;
