import type { Endpoint } from '@srmudp/punch';
import type { Candidate } from '@srmudp/rendezvous';
import { localInterfaces } from '@srmudp/transport-node';

/** The main socket as the node bound it. */
export interface BoundSocket {
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
  readonly ipv6Only: boolean;
}

const isLoopback = (host: string) => host === '::1' || host.startsWith('127.');

/**
 * Host candidates of a socket: its own address, or every interface address of the families it
 * can use when it is bound to a wildcard ('0.0.0.0': IPv4; '::': both, unless IPv6-only),
 * loopback last (peers on the same machine).
 */
export function hostCandidates(s: BoundSocket): Candidate[] {
  if (s.host !== '0.0.0.0' && s.host !== '::') {
    return [{ kind: 'host', family: s.family, host: s.host, port: s.port }];
  }
  const family = s.host === '0.0.0.0' ? 'IPv4' : s.ipv6Only ? 'IPv6' : undefined;
  const list = localInterfaces({ internal: true, ...(family ? { family } : {}) });
  return list
    .sort((a, b) => Number(a.internal) - Number(b.internal))
    .map((a) => ({ kind: 'host', family: a.family === 'IPv4' ? 4 : 6, host: a.host, port: s.port }));
}

/** What the NAT session gathers from: the host candidates that can reach a STUN server. */
export function gatheringAddresses(host: readonly Candidate[]): Endpoint[] {
  return host.filter((c) => !isLoopback(c.host)).map((c) => ({ host: c.host, port: c.port }));
}

/** Server-reflexive candidates a record keeps at most (a random NAT shows one per reflector). */
const MAX_REFLEXIVE = 4;

/**
 * The candidates of a record or card, at most `max`: LAN (host) first, then the public mappings,
 * loopback last. The reflexive ones (up to 4) are kept whatever the number of interfaces, so a
 * host with many addresses still publishes its NAT mapping; loopback goes first when room is short.
 */
export function withReflexive(
  host: readonly Candidate[],
  reflexive: readonly Candidate[],
  max = Number.POSITIVE_INFINITY,
): Candidate[] {
  const refl: Candidate[] = [];
  for (const r of reflexive) {
    if (refl.length === MAX_REFLEXIVE) break;
    if (!host.some((c) => c.host === r.host && c.port === r.port)) refl.push(r);
  }
  const lan = host.filter((c) => !isLoopback(c.host));
  const loop = host.filter((c) => isLoopback(c.host));
  const lanRoom = Math.max(0, max - refl.length);
  const keptLan = lan.slice(0, lanRoom);
  const loopRoom = Math.max(0, max - refl.length - keptLan.length);
  return [...keptLan, ...refl, ...loop.slice(0, loopRoom)];
}

/** The socket families a bound socket can send to. */
export function socketFamilies(s: BoundSocket): Set<4 | 6> {
  if (s.family === 4) return new Set([4]);
  if (s.ipv6Only) return new Set([6]);
  // dual-stack '::' (or an IPv4-mapped address: IPv4 only, but harmless: its IPv6 sends fail)
  return s.host === '::' ? new Set([4, 6]) : new Set([6]);
}
