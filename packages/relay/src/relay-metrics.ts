// The relay protocol's counters, on both sides: why an input was dropped (every drop counted under
// exactly one reason) and the figures RelayService.stats() and RelayClient.stats() return.
import { CLOSE_REASONS, type CloseReason, REJECT_REASONS, type RejectReason } from './reasons.js';

/** Why the relay dropped an input; every drop is counted under exactly one reason. */
export const RELAY_DROP_REASONS = [
  /** channel datagram with a bad header (length mismatch, empty payload) */
  'malformed',
  /** channel datagram from a hop no client is up on (unauthenticated or spoofed source) */
  'unknown_hop',
  /** channel datagram on a channel not bound on that hop */
  'unbound_channel',
  /** payload is not an srmudp packet (first bits not 10) */
  'not_srmudp',
  /** larger than `maxMessageSize` */
  'too_large',
  /** the sender's token bucket is empty */
  'rate_limited',
  /** the circuit reached its byte or duration limit or expired (it is closed) */
  'circuit_limit',
  /** destination send queue full: the oldest packet was dropped */
  'queue_full',
  /** destination handshake queue full: the oldest handshake packet was dropped */
  'handshake_queue_full',
  /** queued longer than `writeTimeoutMs` */
  'stale',
  /** queued for a circuit that closed before the datagram could be sent */
  'circuit_closed',
  /** control message: undecodable */
  'control_malformed',
  /** control message: from a key that is not up */
  'control_unknown_client',
  /** control message: a request id already seen (the cached answer, if any, was re-sent) */
  'control_duplicate',
  /** control message: a type a client never sends, or an answer to nothing */
  'control_unexpected',
  /** control message larger than `maxMessageSize` */
  'control_too_large',
  /** input after shutdown */
  'shutdown',
] as const;
export type RelayDropReason = (typeof RELAY_DROP_REASONS)[number];

export interface RelayStats {
  /** hop sessions up now (admitted or not) */
  clients: number;
  /** circuits open now */
  circuits: number;
  /** CONNECTs waiting for the target's answer */
  pending: number;
  circuitsOpened: number;
  rejected: Record<RejectReason, number>;
  closed: Record<CloseReason, number>;
  /** channel datagrams handed to the host, and their payload bytes */
  packetsForwarded: number;
  bytesForwarded: number;
  controlReceived: number;
  controlSent: number;
  dropped: Record<RelayDropReason, number>;
  eventsDropped: number;
}

function newCounts<K extends string>(keys: readonly K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) out[k] = 0;
  return out;
}

/** All counters at zero. */
export function newRelayStats(): RelayStats {
  return {
    clients: 0,
    circuits: 0,
    pending: 0,
    circuitsOpened: 0,
    rejected: newCounts(Object.keys(REJECT_REASONS) as RejectReason[]),
    closed: newCounts(Object.keys(CLOSE_REASONS) as CloseReason[]),
    packetsForwarded: 0,
    bytesForwarded: 0,
    controlReceived: 0,
    controlSent: 0,
    dropped: newCounts(RELAY_DROP_REASONS),
    eventsDropped: 0,
  };
}

/** A copy the caller may keep (the counters move on). */
export function copyRelayStats(s: RelayStats): RelayStats {
  return {
    ...s,
    rejected: { ...s.rejected },
    closed: { ...s.closed },
    dropped: { ...s.dropped },
  };
}

// ---- the client side ----

export const RELAY_CLIENT_DROP_REASONS = [
  /** channel datagram with a bad header */
  'malformed',
  /** channel datagram on a channel we have not bound */
  'unknown_channel',
  /** undecodable control message */
  'control_malformed',
  /** a message the relay never sends, or an answer to nothing */
  'control_unexpected',
  /** a duplicate (an INCOMING or greeting seen before) */
  'control_duplicate',
  /** INCOMING with a voucher that fails the checks (rejected with the typed reason) */
  'incoming_voucher',
  /** INCOMING while `maxPendingIncoming` wait for the host (rejected `resource_limit`) */
  'incoming_full',
] as const;
export type RelayClientDropReason = (typeof RELAY_CLIENT_DROP_REASONS)[number];

export interface RelayClientStats {
  requests: number;
  bound: number;
  rejected: number;
  closed: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  controlReceived: number;
  controlSent: number;
  dropped: Record<RelayClientDropReason, number>;
}

/** All client counters at zero. */
export function newRelayClientStats(): RelayClientStats {
  return {
    requests: 0,
    bound: 0,
    rejected: 0,
    closed: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    controlReceived: 0,
    controlSent: 0,
    dropped: newCounts(RELAY_CLIENT_DROP_REASONS),
  };
}

/** A copy the caller may keep. */
export function copyRelayClientStats(s: RelayClientStats): RelayClientStats {
  return { ...s, dropped: { ...s.dropped } };
}
