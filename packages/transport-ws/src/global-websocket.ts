import type { WebSocketFactory, WebSocketLike } from './client.js';

/**
 * The runtime's global WebSocket (browsers, Deno, Node >= 22) as a factory. It cannot send
 * headers, so a token travels as `?token=`; it has no maxPayload (the server bounds messages).
 */
export function globalWebSocket(): WebSocketFactory {
  const Ctor = (globalThis as { WebSocket?: new (url: string, protocols: string[]) => WebSocketLike })
    .WebSocket;
  if (Ctor === undefined)
    throw new TypeError('no global WebSocket in this runtime (on Node 20 use nodeWebSocket())');
  return { headers: false, create: (url, protocol) => new Ctor(url, [protocol]) };
}
