/**
 * The address a WebSocket carrier stands for, in the `{ host, port }` shape core and the UDP
 * transport use, so a driver can route a datagram to a WebSocket exactly as to a UDP socket.
 * Client side: the relay's URL without query or fragment (`wss://relay.example/relay`) and its port
 * (443 by default); never an IP literal, so it cannot collide with a UDP address.
 */
export interface WsAddress {
  host: string;
  port: number;
}

/** Throws TypeError unless `url` is a ws: or wss: URL. */
export function parseWsUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new TypeError(`"url" expected a ws:// or wss:// URL, got ${JSON.stringify(url)}`, { cause: e });
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:')
    throw new TypeError(`"url" expected a ws:// or wss:// URL, got protocol ${u.protocol}`);
  return u;
}

/** The carrier address of a relay URL (query, fragment and credentials left out). */
export function wsAddress(url: string): WsAddress {
  const u = parseWsUrl(url);
  const port = u.port === '' ? (u.protocol === 'wss:' ? 443 : 80) : Number(u.port);
  return { host: `${u.protocol}//${u.host}${u.pathname}`, port };
}

/** True for a host made by {@link wsAddress} (client side) or by the server's acceptor (`ws~<ip>`). */
export function isWsHost(host: string): boolean {
  return host.startsWith('ws://') || host.startsWith('wss://') || host.startsWith('ws~');
}
