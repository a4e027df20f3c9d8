/**
 * Connection close, RFC 9000 §10.2: closing (we sent CLOSE; it is repeated, at most once per
 * smoothed RTT, while the peer's packets keep arriving) and draining (the peer sent CLOSE; we
 * send nothing), each lasting 3 PTO before the connection is closed.
 */
import type { CloseFrame } from '@srmudp/wire';

/** Longest reason sent in a CLOSE frame (characters). */
const MAX_REASON = 256;

export class CloseState {
  private frame: CloseFrame | null = null;
  private toSend = false;
  private lastSent = Number.NEGATIVE_INFINITY;
  /** end of the closing or draining period (the Close timer) */
  until = Number.POSITIVE_INFINITY;

  /** We close at `now`: CLOSE(code, reason) is owed. Returns the reason as sent. */
  enterClosing(code: number, reason: string, now: number, pto: number): string {
    const r = reason.length > MAX_REASON ? reason.slice(0, MAX_REASON) : reason;
    this.frame = { type: 'close', code, reason: r };
    this.toSend = true;
    this.until = now + 3 * pto;
    return r;
  }

  /** The peer closed at `now`. */
  enterDraining(now: number, pto: number): void {
    this.until = now + 3 * pto;
  }

  /** A packet arrived while closing: CLOSE is owed again, at most once per `srtt` (§10.2.1). */
  onPacketWhileClosing(now: number, srtt: number): void {
    if (now - this.lastSent >= srtt) this.toSend = true;
  }

  /** The CLOSE frame to send at `now`, or null when none is owed. */
  poll(now: number): CloseFrame | null {
    if (!this.toSend || this.frame === null) return null;
    this.toSend = false;
    this.lastSent = now;
    return this.frame;
  }
}
