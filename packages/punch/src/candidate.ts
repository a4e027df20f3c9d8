/**
 * Candidates (RFC 8445 §5.1, simplified: one component, no foundations). Pairing and checks are
 * core's: it sends its handshake to every candidate address of the peer at once and accepts the
 * peer wherever its authenticated packets come from (the NAT session only picks the addresses).
 */
import { type Address, addressFamily } from '@srmudp/wire';
import { isPrivateAddress } from './address.js';

export type CandidateType = 'host' | 'srflx' | 'prflx' | 'relay';

export interface Candidate {
  readonly type: CandidateType;
  readonly address: Address;
  /** RFC 8445 §5.1.2 priority (31-bit unsigned) */
  readonly priority: number;
  /** local candidates: index of the socket this candidate is reached through (0 = main socket) */
  readonly socket: number;
  /** srflx/prflx: the host address (or socket address) it maps to, when known */
  readonly base?: Address;
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
export function localPreference(address: Address): number {
  const v6 = addressFamily(address) === 6 ? 0x8000 : 0;
  const pub = isPrivateAddress(address.host) ? 0 : 0x4000;
  return v6 + pub + 0x3fff;
}

export function makeCandidate(
  type: CandidateType,
  address: Address,
  socket = 0,
  base?: Address,
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
