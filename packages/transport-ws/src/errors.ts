import { SrmudpError } from '@srmudp/wire';
import type { WsCloseReason } from './close-codes.js';

/** Codes of {@link WsTransportError}. */
export type WsTransportErrorCode =
  /** the WebSocket could not be opened (refused, DNS, TLS, HTTP status, timeout) */
  | 'WS_CONNECT_FAILED'
  /** the server closed the WebSocket; `closeReason` says why */
  | 'WS_CLOSED'
  /** the server refused admission (close code 4001): not retried */
  | 'WS_UNAUTHORIZED'
  /** the server did not select `srmudp.relay.v1`: not retried */
  | 'WS_SUBPROTOCOL'
  /** a datagram above `maxMessageSize` was not sent */
  | 'WS_MESSAGE_TOO_BIG'
  /** a datagram was dropped because the send buffer is above `maxBufferedBytes` */
  | 'WS_BACKPRESSURE'
  /** reconnecting gave up after `maxAttempts` */
  | 'WS_GAVE_UP';

export class WsTransportError extends SrmudpError {
  declare readonly code: WsTransportErrorCode;
  /** the close code and its typed reason, when a close caused the error */
  readonly closeCode: number | undefined;
  readonly closeReason: WsCloseReason | 'abnormal' | undefined;
  constructor(
    code: WsTransportErrorCode,
    message: string,
    options: { cause?: unknown; closeCode?: number; closeReason?: WsCloseReason | 'abnormal' } = {},
  ) {
    super(code, message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WsTransportError';
    this.closeCode = options.closeCode;
    this.closeReason = options.closeReason;
  }
}

export function isWsTransportError(e: unknown): e is WsTransportError {
  return e instanceof SrmudpError && e.name === 'WsTransportError';
}
