import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Endpoint } from '@srmudp/punch';
import { SrmudpError } from '@srmudp/wire';

/** RFC 8489 §18.6: the default STUN port when a server is given without one. */
export const STUN_DEFAULT_PORT = 3478;

/**
 * Parses 'host', 'host:port', 'ip:port' or '[v6]:port' and resolves host names (DNS) to IP
 * literals. Throws SrmudpError('INVALID_OPTIONS') for a malformed entry and
 * SrmudpError('RESOLVE_FAILED') for a name that does not resolve.
 */
export async function resolveStunServers(servers: readonly string[]): Promise<Endpoint[]> {
  const out: Endpoint[] = [];
  for (const s of servers) {
    const { host, port } = parseStunServer(s);
    let ip = host;
    if (isIP(host) === 0) {
      try {
        ip = (await lookup(host)).address;
      } catch (cause) {
        throw new SrmudpError('RESOLVE_FAILED', `cannot resolve STUN server "${s}"`, { cause });
      }
    }
    if (!out.some((e) => e.host === ip && e.port === port)) out.push({ host: ip, port });
  }
  return out;
}

export function parseStunServer(s: string): Endpoint {
  const bad = () =>
    new SrmudpError('INVALID_OPTIONS', `invalid STUN server "${s}" (expected host:port or [ipv6]:port)`);
  if (typeof s !== 'string' || s.length === 0) throw bad();
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1] as string;
    portText = v6[2];
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i < 0) host = s;
    else {
      host = s.slice(0, i);
      portText = s.slice(i + 1);
    }
  }
  const port = portText === undefined ? STUN_DEFAULT_PORT : Number(portText);
  if (host.length === 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw bad();
  if (portText !== undefined && !/^\d+$/.test(portText)) throw bad();
  return { host, port };
}
