/**
 * Candidates and candidate pairs (RFC 8445 §5.1 and §6.1, simplified: one component, no
 * foundations/frozen states; pairs are pruned to (local socket, remote address) as §6.1.2.4 does
 * by replacing a server-reflexive local candidate with its base).
 */
import { type Endpoint, endpointFamily, endpointKey, isPrivateAddress } from './endpoint.js';

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

export interface Candidate {
  readonly type: CandidateType;
  readonly address: Endpoint;
  /** RFC 8445 §5.1.2 priority (31-bit unsigned) */
  readonly priority: number;
  /** local candidates: index of the socket this candidate is reached through (0 = main socket) */
  readonly socket: number;
  /** srflx/prflx: the host address (or socket address) it maps to, when known */
  readonly base?: Endpoint;
}

/** RFC 8445 §5.1.2.2 recommended type preferences. */
export const TYPE_PREFERENCE: Readonly<Record<CandidateType, number>> = {
  host: 126,
  prflx: 110,
  srflx: 100,
  relay: 0,
};

/**
 * RFC 8445 §5.1.2.1: priority = 2^24 × type pref + 2^8 × local pref + (256 − component id).
 * Local preference (0..65535) orders candidates of one type; {@link localPreference} gives the
 * default (IPv6 over IPv4 per RFC 8421's idea, public over private for host addresses).
 */
export function candidatePriority(type: CandidateType, localPref: number, componentId = 1): number {
  if (!Number.isInteger(localPref) || localPref < 0 || localPref > 0xffff) {
    throw new RangeError(`"localPref" expected integer in [0, 65535], got ${String(localPref)}`);
  }
  return TYPE_PREFERENCE[type] * 2 ** 24 + localPref * 2 ** 8 + (256 - componentId);
}

/** Default local preference: IPv6 first (it rarely needs a NAT), then non-private before private. */
export function localPreference(address: Endpoint): number {
  const v6 = endpointFamily(address) === 6 ? 0x8000 : 0;
  const pub = isPrivateAddress(address.host) ? 0 : 0x4000;
  return v6 + pub + 0x3fff;
}

export function makeCandidate(
  type: CandidateType,
  address: Endpoint,
  socket = 0,
  base?: Endpoint,
  localPref: number = localPreference(address),
): Candidate {
  return {
    type,
    address: { host: address.host, port: address.port },
    priority: candidatePriority(type, localPref),
    socket,
    ...(base !== undefined ? { base: { host: base.host, port: base.port } } : {}),
  };
}

/**
 * RFC 8445 §6.1.2.3 pair priority: 2^32 × min(G, D) + 2 × max(G, D) + (G > D ? 1 : 0),
 * G the controlling agent's candidate priority, D the controlled agent's. A bigint: the value
 * exceeds 2^53.
 */
export function pairPriority(controlling: number, controlled: number): bigint {
  const g = BigInt(controlling);
  const d = BigInt(controlled);
  const min = g < d ? g : d;
  const max = g < d ? d : g;
  return (min << 32n) + 2n * max + (g > d ? 1n : 0n);
}

export interface CandidatePair {
  /** `${socket}|${remote endpoint key}` */
  readonly id: string;
  readonly local: Candidate;
  readonly remote: Candidate;
  readonly priority: bigint;
}

export function pairId(socket: number, remote: Endpoint): string {
  return `${socket}|${endpointKey(remote)}`;
}

/**
 * Forms pairs (RFC 8445 §6.1.2.2, same address family only), pruned to one pair per (local socket,
 * remote address) keeping the highest priority, sorted best first. Local srflx/prflx candidates are
 * replaced by their base: a datagram is sent from a socket, not from a public address.
 */
export function formPairs(
  local: readonly Candidate[],
  remote: readonly Candidate[],
  controlling: boolean,
): CandidatePair[] {
  const best = new Map<string, CandidatePair>();
  for (const r of remote) {
    const fam = endpointFamily(r.address);
    for (const l of local) {
      if (l.type === 'relay') continue;
      // the candidate's own family decides: a srflx IPv4 candidate on a dual-stack socket pairs with IPv4
      if (endpointFamily(l.address) !== fam) continue;
      if (r.type === 'relay') continue;
      const id = pairId(l.socket, r.address);
      const priority = controlling
        ? pairPriority(l.priority, r.priority)
        : pairPriority(r.priority, l.priority);
      const prev = best.get(id);
      if (prev === undefined || priority > prev.priority) best.set(id, { id, local: l, remote: r, priority });
    }
  }
  return [...best.values()].sort(comparePairs);
}

export function comparePairs(a: CandidatePair, b: CandidatePair): number {
  return a.priority > b.priority ? -1 : a.priority < b.priority ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
