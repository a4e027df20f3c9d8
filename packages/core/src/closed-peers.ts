/**
 * The peers whose connection we ended (our close, our idle timeout, lost keys), remembered for
 * as long as such a peer may still continue that connection without knowing it ended: our CLOSE
 * and its repeats can all be lost, and the peer then keeps the connection and, when its keys grow
 * old, renews them with a handshake that is, to us, a new incoming one. Its packets under that
 * session go on numbering from its packets under the old one (packet numbers are the
 * connection's, across sessions), so its first packet is numbered above every packet we had from
 * it, where a new connection of the peer's starts again from 0. Such a session is no connection
 * of ours: the endpoint closes it unannounced and the peer, answered no more, times out, as it
 * would have without the rekey (core README, "Connection state machine").
 *
 * The mirror of CoreConnection.numberingRestarted (a new connection of the peer's on a channel we
 * still hold), with the same blind spot: an old connection that carried fewer packets than the
 * new one lost before its first arrived.
 */
import { DEFAULT_TIMING } from '@srmudp/crypto';
import { toHex } from '@srmudp/wire';
import { bootText } from './connection-channels.js';

/**
 * Whether the first packet of a peer's new session, numbered `packetNumber`, continues a
 * connection in which the largest packet number we had from the peer is `largestReceived`: a
 * peer that continues a connection numbers on (packet numbers are the connection's, across
 * sessions; retransmissions take new ones), a new connection starts again from 0. The one rule
 * behind CoreConnection.numberingRestarted, a closing connection's rekey and ClosedPeers.
 */
export function numbersOn(packetNumber: number, largestReceived: number): boolean {
  return packetNumber > largestReceived;
}

/**
 * How long a peer may continue a connection we ended: a session of its started before our close
 * is renewed at most REJECT_AFTER_TIME after it began (WireGuard's timers, crypto's defaults).
 */
export const CLOSED_PEER_MS = DEFAULT_TIMING.rejectAfterMs;
/** Bound on the peers remembered (the oldest go first): ~150 bytes each. */
export const MAX_CLOSED_PEERS = 4096;

interface ClosedPeer {
  /** the peer's boot id in that connection's handshake (one char per byte), or null: not sent */
  readonly boot: string | null;
  /** the largest packet number we had from the peer in it */
  readonly largestPn: number;
  readonly until: number;
}

/** Peers whose connection ended here, by peer id (hex), oldest first. */
export class ClosedPeers {
  private readonly peers = new Map<string, ClosedPeer>();

  constructor(
    private readonly lifetimeMs = CLOSED_PEER_MS,
    private readonly max = MAX_CLOSED_PEERS,
  ) {}

  get size(): number {
    return this.peers.size;
  }

  /**
   * Our connection with `key` ended, not by the peer's close; `largestPn`: the largest packet
   * number we had from it (none: nothing to compare a continuation with, not remembered).
   */
  remember(now: number, key: Uint8Array, boot: string | null, largestPn: number): void {
    this.expire(now);
    const hex = toHex(key);
    this.peers.delete(hex);
    if (largestPn < 0) return;
    if (this.peers.size >= this.max) {
      const oldest = this.peers.keys().next();
      if (!oldest.done) this.peers.delete(oldest.value);
    }
    this.peers.set(hex, { boot, largestPn, until: now + this.lifetimeMs });
  }

  /** A new connection with `key` began: nothing of the old one can arrive as its own any more. */
  forget(key: Uint8Array): void {
    if (this.peers.size > 0) this.peers.delete(toHex(key));
  }

  /**
   * Whether a new session of `key`'s (boot id `boot`), whose first packet is numbered
   * `packetNumber`, continues the connection we ended: the same boot id, and numbered above
   * every packet we had from the peer in it. A peer with a new boot id restarted: never.
   */
  continues(now: number, key: Uint8Array, boot: Uint8Array | null, packetNumber: number): boolean {
    if (this.peers.size === 0) return false;
    this.expire(now);
    const p = this.peers.get(toHex(key));
    if (p === undefined || p.boot === null || boot === null) return false;
    return p.boot === bootText(boot) && numbersOn(packetNumber, p.largestPn);
  }

  private expire(now: number): void {
    for (const [hex, p] of this.peers) {
      if (p.until > now) return;
      this.peers.delete(hex);
    }
  }
}
