/**
 * Binding the node's main UDP socket, one rule: the address given (a host name resolved first),
 * or dual-stack '::' with IPv4 where this host has no IPv6; the failures a user can act on (port
 * taken, address not ours, not allowed) as typed errors.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { UdpTransport } from '@srmudp/transport-node';
import { SrmudpError } from '@srmudp/wire';
import type { ResolvedNodeOptions } from './config.js';
import { logger } from './log.js';

/** Same namespace as the façade's lines (`DEBUG=srmudp:node`). */
const log = logger('srmudp:node');

/** Binds the main socket: the given address, or dual-stack '::' with IPv4 where IPv6 is missing. */
export async function bindMain(o: ResolvedNodeOptions): Promise<UdpTransport> {
  if (o.host !== undefined || o.ipv6Only) {
    const host = o.host !== undefined ? await bindAddress(o.host) : '::';
    try {
      const t = await UdpTransport.bind({ host, port: o.port, ipv6Only: o.ipv6Only });
      log(
        `bound ${host}:${t.address().port}${host !== o.host && o.host !== undefined ? ` (${o.host})` : ''}`,
      );
      return t;
    } catch (e) {
      throw bindError(e, host, o.port);
    }
  }
  try {
    const t = await bindDualStack((host) => UdpTransport.bind({ host, port: o.port, ipv6Only: false }));
    log(`bound ${t.address().host}:${t.address().port}`);
    return t;
  } catch (e) {
    throw bindError(e, '::', o.port);
  }
}

/** A host name (`localhost`, `myhost.lan`) resolved to the IP literal the socket binds. */
async function bindAddress(host: string): Promise<string> {
  if (isIP(host)) return host;
  try {
    return (await lookup(host)).address;
  } catch (cause) {
    throw new SrmudpError('RESOLVE_FAILED', `cannot bind to "${host}": the host name does not resolve`, {
      cause,
    });
  }
}

/** Typed errors for the bind failures a user can act on (port taken, address not ours). */
function bindError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EADDRINUSE')
    return new SrmudpError(
      'ADDRESS_IN_USE',
      `UDP port ${port} on ${host} is already in use (another srmudp node?); choose another port or 0 for any`,
      { cause: e },
    );
  if (code === 'EADDRNOTAVAIL')
    return new SrmudpError('ADDRESS_UNAVAILABLE', `${host} is not an address of this machine`, { cause: e });
  if (code === 'EACCES' || code === 'EPERM')
    return new SrmudpError('ADDRESS_DENIED', `not allowed to bind UDP ${host}:${port}`, { cause: e });
  return e;
}

/**
 * '::' with IPV6_V6ONLY off (one socket for both families, IPv4 peers seen as IPv4), else
 * '0.0.0.0' when this host has no IPv6 (kernel without it: EAFNOSUPPORT; IPv6 disabled:
 * EADDRNOTAVAIL / EINVAL / EPROTONOSUPPORT). Any other error (EADDRINUSE for a fixed port) is
 * the user's to see.
 */
export async function bindDualStack<T>(bind: (host: string) => Promise<T>): Promise<T> {
  try {
    return await bind('::');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const noIpv6 = ['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EINVAL', 'EPROTONOSUPPORT'];
    if (code === undefined || !noIpv6.includes(code)) throw e;
    return bind('0.0.0.0');
  }
}
