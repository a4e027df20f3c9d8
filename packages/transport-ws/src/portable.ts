// The carrier without Node's `ws`: for browsers (pass browserWebSocket()) and other runtimes.
export { isWsHost, parseWsUrl, type WsAddress, wsAddress } from './address.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export {
  clampCloseReason,
  type WebSocketFactory,
  type WebSocketLike,
  type WsStateChange,
  WsTransport,
  type WsTransportOptions,
  type WsTransportState,
  type WsTransportStats,
} from './client.js';
export {
  closeReasonOf,
  DEFAULT_MAX_PAYLOAD,
  isFatalClose,
  SUBPROTOCOL,
  WS_CLOSE,
  type WsCloseReason,
} from './close-codes.js';
export { isWsTransportError, WsTransportError, type WsTransportErrorCode } from './errors.js';
export { globalWebSocket } from './global-websocket.js';
