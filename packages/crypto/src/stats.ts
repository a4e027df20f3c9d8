/** Why an incoming datagram was dropped; every drop is counted under exactly one reason. */
export type DropReason =
  | 'malformed' // not decodable as an srmudp packet (WireDecodeError), truncated included
  | 'unknown_index' // receiver index matches no session or pending handshake
  | 'bad_mac1'
  | 'bad_mac2' // mac2 present but not made with a cookie we issued (a cookie reply is sent)
  | 'under_load' // initiation without mac2 while under load (a cookie reply is sent)
  | 'handshake_failed' // Noise decryption/authentication failed
  | 'bad_payload' // handshake payload malformed, index or identity mismatch
  | 'refused' // accept policy said no
  | 'simultaneous_lost' // simultaneous initiation: the other side's initiation wins
  | 'duplicate_init' // retransmitted initiation (the cached response is re-sent)
  | 'replayed_init' // IK initiation whose timestamp is not newer than the last accepted from its key
  | 'rate_limited' // under load: the source (address or prefix) is over its handshake or cookie budget
  | 'unexpected' // valid packet type at the wrong time (e.g. a response with no pending handshake)
  | 'bad_cookie_reply'
  | 'decrypt_failed' // data packet failed authentication
  | 'replay' // data packet number already received
  | 'too_old' // data packet number below the replay window
  | 'key_phase' // key phase bit does not match the session
  | 'internal_error'; // a bug caught defensively (tests assert it stays 0)

export const DROP_REASONS: readonly DropReason[] = [
  'malformed',
  'unknown_index',
  'bad_mac1',
  'bad_mac2',
  'under_load',
  'handshake_failed',
  'bad_payload',
  'refused',
  'simultaneous_lost',
  'duplicate_init',
  'replayed_init',
  'rate_limited',
  'unexpected',
  'bad_cookie_reply',
  'decrypt_failed',
  'replay',
  'too_old',
  'key_phase',
  'internal_error',
];

export interface CryptoStats {
  dropped: Record<DropReason, number>;
  /** handshakes we initiated, first contacts and rekeys (retransmissions not counted) */
  handshakesStarted: number;
  /**
   * sessions made current, as initiator or as responder (an IK responder's once the initiator's
   * first packet confirms its keys)
   */
  handshakesCompleted: number;
  /**
   * handshakes we initiated that got no answer within the handshake timeout. A simultaneous open
   * that lives on under the session we answered still counts its own unanswered initiation here:
   * the connection's fate is its events, not this counter.
   */
  handshakesFailed: number;
  cookieRepliesSent: number;
  cookieRepliesAccepted: number;
  /** initiations answered with Diffie-Hellman work (every other one cost at most MACs) */
  initiationsProcessed: number;
  /** pending responder handshakes evicted to admit newer ones (handshake-guard.ts) */
  pendingEvicted: number;
  /** what one answered initiation costs the responder (ms): measured with the `workClock`, else
   * the assumed `limits.handshakeCostMs` */
  handshakeCostMs: number;
  /** the cap of cookie-validated handshakes per second under load at that cost */
  handshakesPerSecondUnderLoad: number;
  rekeys: number;
  packetsOpened: number;
}

export function newStats(): CryptoStats {
  const dropped = {} as Record<DropReason, number>;
  for (const r of DROP_REASONS) dropped[r] = 0;
  return {
    dropped,
    handshakesStarted: 0,
    handshakesCompleted: 0,
    handshakesFailed: 0,
    cookieRepliesSent: 0,
    cookieRepliesAccepted: 0,
    initiationsProcessed: 0,
    pendingEvicted: 0,
    handshakeCostMs: 0,
    handshakesPerSecondUnderLoad: 0,
    rekeys: 0,
    packetsOpened: 0,
  };
}
