/**
 * UPnP-IGD discovery: an SSDP M-SEARCH (UPnP Device Architecture 1.1, §1.3) sent the way a
 * control point sends it, from an ephemeral port on each IPv4 interface.
 *
 * Our own instead of `@achingbrain/nat-port-mapper`'s `findGateways()`, whose SSDP client binds
 * port 1900 on every interface address, and so:
 * - crashed the process when another program held that port (`bind EADDRINUSE` was emitted as
 *   an `'error'` event that nothing listened to yet; Windows' SSDP service holds it);
 * - crashed it on one unicast datagram from the LAN to port 1900 during a search, whose first
 *   line was not a known SSDP method (its parser throws inside the socket's message handler);
 * - hung without end when a bind failed (its socket setup waits for every socket).
 *
 * A control point needs no port 1900: responses are unicast to the port the search came from.
 * Here each socket has a port of its own, errors close that socket only (udp-query.ts), and
 * every datagram is parsed by a function that returns null for anything it does not accept. The gateway object
 * is then made from the found LOCATION by the library's `getGateway()`.
 */
import { networkInterfaces } from 'node:os';
import { udpQuery } from './udp-query.js';

/** The device type searched for (the library speaks IGD v2 only). */
export const IGD2_DEVICE = 'urn:schemas-upnp-org:device:InternetGatewayDevice:2';
const SSDP_GROUP = '239.255.255.250';
const SSDP_PORT = 1900;
/** UDA 1.1 §1.3.2: multicast M-SEARCH with a TTL of 2 by default. */
const SSDP_TTL = 2;
/** A search response is a few hundred bytes: what is past this is not read. */
const MAX_RESPONSE_BYTES = 4096;

/** The M-SEARCH request for device type `st`; MX 1: devices answer within a second. */
export function mSearchRequest(st: string): Buffer {
  return Buffer.from(
    `M-SEARCH * HTTP/1.1\r\nHOST: ${SSDP_GROUP}:${SSDP_PORT}\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ${st}\r\n\r\n`,
    'latin1',
  );
}

/**
 * The LOCATION of a search response (`HTTP/1.1 200 OK`, header names in any case) whose ST is
 * `st`, or null for anything else. The location must be an `http:` URL on the responder's own
 * address `from`: a device describes itself, and the node fetches that URL, so a LAN host cannot
 * make it fetch another one. Never throws.
 */
export function parseSearchResponse(text: string, from: string, st: string): URL | null {
  const lines = text.split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/i.test(lines[0] ?? '')) return null;
  let location: string | null = null;
  let type: string | null = null;
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toUpperCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'LOCATION') location = value;
    else if (name === 'ST') type = value;
  }
  if (location === null || type !== st) return null;
  let url: URL;
  try {
    url = new URL(location);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' || url.hostname !== from) return null;
  return url;
}

/** The IPv4 addresses a search goes out from: not loopback, not link-local. */
export function searchAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.family === 'IPv4' && !a.internal && !a.address.startsWith('169.254.')) out.push(a.address);
    }
  }
  return out;
}

export interface SearchOptions {
  /** The device type (ST) searched for. */
  readonly st: string;
  /** The search is sent again at this interval until a device answers. */
  readonly intervalMs: number;
  /** Ends the search (null). */
  readonly signal: AbortSignal;
  /** The addresses searched from (default: {@link searchAddresses}). */
  readonly addresses?: readonly string[];
  /** Where the search is sent (default: the SSDP group; tests send to a unicast address). */
  readonly to?: { readonly host: string; readonly port: number };
  readonly log?: (message: string) => void;
}

/**
 * The LOCATION of the first device of type `st` that answers, or null once `signal` aborts
 * (or at once when there is no address to search from, or no socket could be opened).
 */
export function searchDevice(o: SearchOptions): Promise<URL | null> {
  const to = o.to ?? { host: SSDP_GROUP, port: SSDP_PORT };
  return udpQuery({
    from: o.addresses ?? searchAddresses(),
    to,
    request: mSearchRequest(o.st),
    retryMs: () => o.intervalMs,
    answer: (msg, from) =>
      parseSearchResponse(msg.subarray(0, MAX_RESPONSE_BYTES).toString('latin1'), from.address, o.st),
    setup: (socket, address) => {
      if (to.host !== SSDP_GROUP || address === undefined) return;
      socket.setMulticastInterface(address);
      socket.setMulticastTTL(SSDP_TTL);
    },
    signal: o.signal,
    ...(o.log ? { log: o.log } : {}),
  });
}
