/**
 * Idle timeout and keepalive (RFC 9000 §10.1): the connection closes silently after
 * max(idle timeout, 3 PTO) without receiving, counted from the last receipt or from the first
 * ack-eliciting packet sent after it; a PING goes out after `keepaliveMs` without sending (below
 * the 30 s NAT binding timeouts). Both run on our clock only (no idle-timeout negotiation).
 *
 * RTT warm-up: a connection's first RTT samples are taken while both hosts are busy with the
 * handshake (and, on a host accepting many, with other handshakes), and a connection that sends
 * nothing afterwards never takes a better one. So `rttProbes` PINGs (core asks for 1) go out after it
 * opens, RTT_PROBE_FIRST_MS after it and then at doubling gaps (50, 150, 350 ms): each is
 * acknowledged at once (a PING is) and its sample is provisional (rtt.ts), so the smallest,
 * outside the burst, becomes the estimate. A one-off few packets per connection, none later; a
 * PING rides on a packet that carries data anyway, so a busy connection pays nothing.
 *
 * Both sides warm up, and each answers the other's PING with an ACK at once. So a warm-up PING
 * owed leaves early, with that ACK, when the peer's PING arrives from RTT_PROBE_MIN_AGE_MS after
 * the connection opened (or our previous warm-up PING left): one datagram instead of an ACK now
 * and a PING a moment later (three datagrams per connection for the two warm-ups, not four).
 * Only a PING without PADDING counts (receive.ts): a PMTU probe's does not, and every
 * connection's first packet is one, sent during the handshakes' burst, so a warm-up PING riding
 * with its ACK would measure that burst again (the demo's mesh of simultaneous opens on one busy
 * process kept 6-12 ms estimates on loopback so). The side that opens second (`rttProbeAnswer`;
 * core: the accepting side, whose connection opens on the dialler's first packet) waits for the
 * dialler's warm-up PING, up to RTT_PROBE_ANSWER_WAIT_MS, and sends its own with the ACK of the
 * first such PING after that opening packet (from RTT_PROBE_ANSWER_MIN_AGE_MS): on a loaded host
 * the dialler's PING, sent 50 ms after its open, queues behind the same work as its first packet
 * and may arrive only a few ms after it.
 */
import { CONNECTION_SLOTS, LIVENESS_AT, numericSlots } from './numeric-slots.js';
/** Keepalive deadlines are rounded down to multiples of keepaliveMs / this. */
export const KEEPALIVE_GRID_DIVISOR = 16;
/** The first RTT warm-up PING goes this long after the connection opens; each next gap doubles. */
export const RTT_PROBE_FIRST_MS = 50;
/** A warm-up PING may leave early with the ACK of the peer's PING from this long after the last. */
export const RTT_PROBE_MIN_AGE_MS = 30;
/** An answering side's first warm-up PING waits this long for the peer's before it goes alone. */
export const RTT_PROBE_ANSWER_WAIT_MS = 250;
/** ... and answers a PING from this long after the open (the opening packet itself is at 0). */
export const RTT_PROBE_ANSWER_MIN_AGE_MS = 1;

export class Liveness {
  /** start of the idle period: last receipt, or the first ack-eliciting send after it */
  private get idleStart(): number {
    return this.numbers[LIVENESS_AT + 0]!;
  }
  private set idleStart(x: number) {
    this.numbers[LIVENESS_AT + 0] = x;
  }
  private elicitingSinceReceive = false;
  /** when we last sent anything */
  private get lastSent(): number {
    return this.numbers[LIVENESS_AT + 1]!;
  }
  private set lastSent(x: number) {
    this.numbers[LIVENESS_AT + 1] = x;
  }
  /** RTT warm-up PINGs still to send, and when the next one is due */
  private rttProbesLeft: number;
  private rttProbeGap = RTT_PROBE_FIRST_MS;
  /** the first warm-up PING answers the peer's (`rttProbeAnswer`), until it leaves */
  private rttProbeAnswering: boolean;
  private get rttProbeAt(): number {
    return this.numbers[LIVENESS_AT + 2]!;
  }
  private set rttProbeAt(x: number) {
    this.numbers[LIVENESS_AT + 2] = x;
  }

  constructor(
    private readonly idleTimeoutMs: number,
    private readonly keepaliveMs: number,
    now: number,
    rttProbes = 0,
    private readonly numbers: number[] = numericSlots(CONNECTION_SLOTS),
    rttProbeAnswer = false,
  ) {
    this.idleStart = now;
    this.lastSent = now;
    this.rttProbesLeft = rttProbes;
    this.rttProbeAnswering = rttProbeAnswer;
    this.rttProbeAt = now + (rttProbeAnswer ? RTT_PROBE_ANSWER_WAIT_MS : RTT_PROBE_FIRST_MS);
  }

  /** True while RTT warm-up PINGs are still to be sent (their samples are provisional). */
  get warmingUp(): boolean {
    return this.rttProbesLeft > 0;
  }

  /** When the next RTT warm-up PING is due, or +Inf when none is left. */
  rttProbeDeadline(): number {
    return this.rttProbesLeft > 0 ? this.rttProbeAt : Number.POSITIVE_INFINITY;
  }

  /**
   * The peer's PING arrived at `now` (we ACK it at once): true when a warm-up PING of ours is owed
   * and may leave early with that ACK (RTT_PROBE_MIN_AGE_MS after the open or our last one; an
   * answering side's first, RTT_PROBE_ANSWER_MIN_AGE_MS after the open); the caller then sends it
   * and calls `onRttProbe(now)`.
   */
  rttProbeEarly(now: number): boolean {
    if (this.rttProbesLeft <= 0) return false;
    if (this.rttProbeAnswering)
      return now >= this.rttProbeAt - RTT_PROBE_ANSWER_WAIT_MS + RTT_PROBE_ANSWER_MIN_AGE_MS;
    return now >= this.rttProbeAt - this.rttProbeGap + RTT_PROBE_MIN_AGE_MS;
  }

  /** A warm-up PING is owed at `now` (its deadline came, or it leaves early); true when it is the last one. */
  onRttProbe(now: number): boolean {
    this.rttProbesLeft--;
    this.rttProbeAnswering = false;
    this.rttProbeGap *= 2;
    this.rttProbeAt = now + this.rttProbeGap;
    return this.rttProbesLeft === 0;
  }

  onReceive(now: number): void {
    this.idleStart = now;
    this.elicitingSinceReceive = false;
  }

  onSent(now: number, ackEliciting: boolean): void {
    if (ackEliciting && !this.elicitingSinceReceive) {
      // RFC 9000 §10.1: the first ack-eliciting packet sent after a receipt restarts the idle timer
      this.elicitingSinceReceive = true;
      this.idleStart = now;
    }
    this.lastSent = now;
  }

  /** When the connection is idle given the current PTO, or +Inf when the idle timeout is off. */
  idleDeadline(pto: number): number {
    if (!(this.idleTimeoutMs > 0)) return Number.POSITIVE_INFINITY;
    return this.idleStart + Math.max(this.idleTimeoutMs, 3 * pto);
  }

  /**
   * When a keepalive PING is owed, or +Inf when keepalive is off. Coalesced: rounded down to a
   * grid of keepaliveMs / 16 on the caller's clock (at most 1/16 early), so the idle connections
   * of one endpoint fall due together and their keepalives leave in one wake-up of its loop, and
   * a peer with many of them takes them in bursts, not one at a time.
   */
  keepaliveDeadline(): number {
    if (!(this.keepaliveMs > 0)) return Number.POSITIVE_INFINITY;
    const grid = this.keepaliveMs / KEEPALIVE_GRID_DIVISOR;
    return Math.floor((this.lastSent + this.keepaliveMs) / grid) * grid;
  }
}
