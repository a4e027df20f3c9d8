/**
 * WebSocket close codes of the srmudp carrier, shared by the client and the server so that a
 * refusal reaches the client as a typed reason (browsers see only the close code and reason text,
 * never an HTTP status: RELAYS.md, "Browser WebSocket"). 1000-1011 are RFC 6455 §7.4.1; 4000-4999
 * are private-use codes.
 */
export const WS_CLOSE = {
  normal: 1000,
  /** server shutting down or restarting: reconnect (the hop session said where and when) */
  going_away: 1001,
  protocol_error: 1002,
  /** a message above the server's maxPayload (RFC 6455 §7.4.1) */
  message_too_big: 1009,
  internal_error: 1011,
  /** admission refused: missing or wrong bearer token */
  unauthorized: 4001,
  /** too many new connections from one IP address per second, or too many at once */
  too_many_connections: 4002,
  /** the server holds its maximum number of WebSocket clients */
  server_full: 4003,
  /** the client did not read fast enough: its send buffer passed the hard limit */
  slow_consumer: 4004,
  /** the `srmudp.relay.v1` subprotocol was not offered */
  subprotocol: 4005,
} as const;

export type WsCloseReason = keyof typeof WS_CLOSE;

const BY_CODE = new Map<number, WsCloseReason>(
  Object.entries(WS_CLOSE).map(([k, v]) => [v, k as WsCloseReason]),
);

/** The typed reason of a close code; `'abnormal'` for 1006 and codes outside the table. */
export function closeReasonOf(code: number): WsCloseReason | 'abnormal' {
  return BY_CODE.get(code) ?? 'abnormal';
}

/** Reasons after which reconnecting cannot help (the same request would be refused again). */
export function isFatalClose(code: number): boolean {
  return code === WS_CLOSE.unauthorized || code === WS_CLOSE.subprotocol || code === WS_CLOSE.protocol_error;
}

/** The one subprotocol the carrier speaks (Sec-WebSocket-Protocol, RFC 6455 §1.9). */
export const SUBPROTOCOL = 'srmudp.relay.v1';

/**
 * Default bound of one message: 64 KiB, the relay's maximum message size (an iroh relay's packet
 * limit). `ws`'s own default is 100 MiB, which lets one message pin that much memory.
 */
export const DEFAULT_MAX_PAYLOAD = 65_536;
