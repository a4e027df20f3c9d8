import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SrmudpError } from '@srmudp/wire';

/** RFC 8489 §18.6: the default STUN port when a server is given without one. */
export const STUN_DEFAULT_PORT = 3478;

/** A STUN server as configured: an IP literal or a name still to resolve, and a port. */
export interface StunServerName {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses 'host', 'host:port', 'ip:port', '[v6]:port' or a bare IPv6 literal. Throws
 * SrmudpError('INVALID_OPTIONS') naming the entry when it is malformed (at createNode: a typo
 * must not wait for the background resolution to show).
 */
export function parseStunServer(s: string): StunServerName {
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
  if (v6 && isIP(host) !== 6) throw bad();
  return { host, port };
}

/** True when every server is an IP literal already (nothing to resolve). */
export function allLiterals(servers: readonly StunServerName[]): boolean {
  return servers.every((s) => isIP(s.host) !== 0);
}

/** How long a resolution is shared by every node of the process (a failure: 5 s). */
const LOOKUP_TTL_MS = 30_000;
const FAILURE_TTL_MS = 5000;
const lookups = new Map<string, { at: number; result: Promise<{ address: string; family: number }[]> }>();

/**
 * The system resolver (getaddrinfo) runs on libuv's 4 worker threads, which fs and crypto share:
 * a process that starts many nodes (tests, a relay) must not queue 7 lookups per node, the more
 * so offline, where each may wait for a DNS timeout. One lookup per name at a time, its answer
 * kept for 30 s (a failure for 5 s).
 */
function lookupShared(host: string): Promise<{ address: string; family: number }[]> {
  const now = performance.now();
  const hit = lookups.get(host);
  if (hit !== undefined && now - hit.at < LOOKUP_TTL_MS) return hit.result;
  if (lookups.size > 256) lookups.clear();
  const result = lookup(host, { all: true });
  const entry = { at: now, result };
  result.catch(() => {
    // a failure is read by the callers (never an unhandled rejection) and kept for a short while
    // only: the network may come back
    entry.at = performance.now() - (LOOKUP_TTL_MS - FAILURE_TTL_MS);
  });
  lookups.set(host, entry);
  return result;
}

/**
 * Resolves one server (A and AAAA, through the system resolver) to IP endpoints of the families
 * the node's socket can use, at most one address per family (IPv6 first); a literal passes
 * through. Rejects when the name does not resolve. Unbounded in time: the driver bounds it.
 */
export async function resolveStunServer(
  s: StunServerName,
  families: ReadonlySet<4 | 6>,
): Promise<StunServerName[]> {
  const literal = isIP(s.host);
  if (literal !== 0) return families.has(literal as 4 | 6) ? [{ host: s.host, port: s.port }] : [];
  const found = await lookupShared(s.host);
  const out: StunServerName[] = [];
  for (const fam of [6, 4] as const) {
    const a = found.find((x) => x.family === fam);
    if (a !== undefined && families.has(fam)) out.push({ host: a.address, port: s.port });
  }
  return out;
}
