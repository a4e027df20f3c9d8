import { WsTransport, type WsTransportOptions } from './client.js';
import { nodeWebSocket } from './node-websocket.js';

/** {@link WsTransport.connect} with Node's `ws` unless `webSocket` is given. */
export function connectWs(
  options: Omit<WsTransportOptions, 'webSocket'> & Partial<Pick<WsTransportOptions, 'webSocket'>>,
): Promise<WsTransport> {
  return WsTransport.connect({ ...options, webSocket: options.webSocket ?? nodeWebSocket() });
}
