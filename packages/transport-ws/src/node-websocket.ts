import WebSocket from 'ws';
import type { WebSocketFactory, WebSocketLike } from './client.js';

/**
 * Node's `ws` as a factory: permessage-deflate off (ws turns it on for clients by default;
 * sealed datagrams do not compress), `maxPayload` bounded, the token as a header, TLS options
 * (a private CA for a self-signed relay) passed through.
 */
export function nodeWebSocket(
  tls: { ca?: string | Uint8Array; rejectUnauthorized?: boolean } = {},
): WebSocketFactory {
  return {
    headers: true,
    create: (url, protocol, init) =>
      new WebSocket(url, [protocol], {
        perMessageDeflate: false,
        maxPayload: init.maxPayload,
        headers: init.headers,
        ...(tls.ca !== undefined ? { ca: typeof tls.ca === 'string' ? tls.ca : Buffer.from(tls.ca) } : {}),
        ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
      }) as unknown as WebSocketLike,
  };
}
