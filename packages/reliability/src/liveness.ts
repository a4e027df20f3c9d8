/**
 * Idle timeout and keepalive (RFC 9000 §10.1): the connection closes silently after
 * max(idle timeout, 3 PTO) without receiving, counted from the last receipt or from the first
 * ack-eliciting packet sent after it; a PING goes out after `keepaliveMs` without sending (below
 * the 30 s NAT binding timeouts). Both run on our clock only (no idle-timeout negotiation).
 */
/** Keepalive deadlines are rounded down to multiples of keepaliveMs / this. */
export const KEEPALIVE_GRID_DIVISOR = 16;

export class Liveness {
  /** start of the idle period: last receipt, or the first ack-eliciting send after it */
  private idleStart: number;
  private elicitingSinceReceive = false;
  /** when we last sent anything */
  private lastSent: number;

  constructor(
    private readonly idleTimeoutMs: number,
    private readonly keepaliveMs: number,
    now: number,
  ) {
    this.idleStart = now;
    this.lastSent = now;
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
