import type { AckFrame, AckRange } from '@srmudp/wire';
import { ACKS_AT, CONNECTION_SLOTS, numericSlots } from './numeric-slots.js';
import { RangeSet } from './range-set.js';

/** RFC 9000 §13.2.2: acknowledge at least every second ack-eliciting packet. */
export const ACK_ELICITING_THRESHOLD = 2;
/** The first ack-eliciting packets of a connection are acknowledged at once (RFC 9000 §13.2.1
 * does so for handshake packets): the peer's first RTT samples, which set its min_rtt, are then
 * the path's, not max_ack_delay late (a min_rtt inflated by a delayed ACK also defeats the
 * ack-delay correction of every later sample, RFC 9002 §5.3). */
export const IMMEDIATE_FIRST = 4;
/** ACK decimation (Chromium/quiche's default, which the QUIC ACK_FREQUENCY draft generalises):
 * after this many ack-eliciting packets acknowledge every ACK_DECIMATION_THRESHOLD-th one
 * instead of every second. quiche waits 100 (kMinReceivedBeforeAckDecimation, "to avoid the
 * beginning of slow start"); 1000 (~1.4 MB) keeps per-2 ACKs through BBR's Startup on a
 * 20 Mbit/s x 40 ms path, where 100 made a 4 MiB transfer with 1-2% loss finish ~1% later in
 * simulation (it costs a bulk transfer at 90k packets/s ~10 ms of full-rate ACKs). */
export const ACK_DECIMATION_AFTER = 1000;
/** ack-eliciting packets per ACK once decimating (quiche kMaxRetransmittablePacketsBeforeAck) */
export const ACK_DECIMATION_THRESHOLD = 10;
/** Once decimating, at least this many ACKs per min_rtt: the threshold is the ack-eliciting
 * packets of the last min_rtt over this, between 2 and ACK_DECIMATION_THRESHOLD (a sender whose
 * window is a few dozen packets keeps its ACK clock; the ACK_FREQUENCY draft has the sender
 * choose such a threshold from its window, quiche's fixed 10 does not). */
export const ACKS_PER_RTT = 4;
/** once decimating, an ACK is delayed at most this fraction of min_rtt (never more than
 * max_ack_delay, so the peer's PTO still holds; quiche kAckDecimationDelay) */
export const ACK_DECIMATION_DELAY = 0.25;
/** quiche kAlarmGranularity: the decimated delay is at least this (ms) */
const ACK_DECIMATION_MIN_DELAY_MS = 1;
/** After a new gap, the next this many packets are acknowledged at once, so the sender sees the
 * packets past the hole its packet threshold needs (quiche kMaxPacketsAfterNewMissing). */
export const IMMEDIATE_AFTER_GAP = 4;
/** Most ranges one ACK frame carries (older holes were, or will be, declared lost anyway). */
export const MAX_ACK_RANGES = 32;
/** Most ranges remembered for duplicate detection. */
const MAX_TRACKED_RANGES = 256;

/**
 * Received packet numbers and when to acknowledge them (RFC 9000 §13.2): immediately after every
 * second ack-eliciting packet (every ACK_DECIMATION_THRESHOLD-th once ACK_DECIMATION_AFTER have
 * arrived), a packet that arrives out of order, the IMMEDIATE_AFTER_GAP packets after a new gap,
 * one with a PING, and the first IMMEDIATE_FIRST ack-eliciting packets of the connection,
 * otherwise within max_ack_delay (once decimating, within min(max_ack_delay, min_rtt / 4), and
 * at least ACKS_PER_RTT times per min_rtt);
 * ACK frames ride along with data whenever something is sent anyway. Remembers
 * received numbers for duplicate detection; when an ACK we sent is itself acknowledged, the
 * ranges below it are no longer reported (§13.2.4).
 */
export class AckTracker {
  readonly received = new RangeSet();
  /** packets below this are treated as duplicates (forgotten or already reported) */
  floor = 0;
  largest = -1;
  private get largestTime(): number {
    return this.numbers[ACKS_AT + 0]!;
  }
  private set largestTime(x: number) {
    this.numbers[ACKS_AT + 0] = x;
  }
  private elicitingSinceAck = 0;
  private elicitingTotal = 0;
  /** ack-eliciting packets before decimation starts (tests set +Infinity to compare without) */
  decimateAfter = ACK_DECIMATION_AFTER;
  /** decimated threshold, from the ack-eliciting packets of the last min_rtt */
  private threshold = ACK_ELICITING_THRESHOLD;
  private windowStart = 0;
  private windowCount = 0;
  /** something was received since the last ACK we sent */
  pending = false;
  /** an ACK should be sent as soon as possible */
  immediate = false;
  /** time by which an ACK must be sent, or +Inf */
  get deadline(): number {
    return this.numbers[ACKS_AT + 1]!;
  }
  set deadline(x: number) {
    this.numbers[ACKS_AT + 1] = x;
  }

  constructor(
    readonly maxAckDelay: number,
    private readonly numbers: number[] = numericSlots(CONNECTION_SLOTS),
  ) {
    this.deadline = Number.POSITIVE_INFINITY;
  }

  /** Records packet `pn`; returns false for a duplicate (the caller drops it). `ackNow`: the
   * packet asks for an immediate ACK (it carries a PING). `minRtt`: our min_rtt estimate (ms),
   * which bounds the delay once ACKs are decimated. */
  onPacket(now: number, pn: number, ackEliciting: boolean, ackNow = false, minRtt = Infinity): boolean {
    if (pn < this.floor || this.received.has(pn)) return false;
    const outOfOrder = pn < this.largest || (this.largest >= 0 && pn > this.largest + 1);
    this.received.add(pn, pn + 1);
    if (this.received.size > MAX_TRACKED_RANGES) {
      this.received.truncateLow(MAX_TRACKED_RANGES);
      this.floor = this.received.min();
    }
    if (pn > this.largest) {
      this.largest = pn;
      this.largestTime = now;
    }
    this.pending = true;
    if (ackEliciting) {
      this.elicitingSinceAck++;
      const total = ++this.elicitingTotal;
      const decimating = total > this.decimateAfter;
      // packets per min_rtt, counted over consecutive windows of one min_rtt
      this.windowCount++;
      if (now - this.windowStart >= minRtt) {
        const t = Math.floor(this.windowCount / ACKS_PER_RTT);
        this.threshold = Math.max(ACK_ELICITING_THRESHOLD, Math.min(ACK_DECIMATION_THRESHOLD, t));
        this.windowStart = now;
        this.windowCount = 0;
      }
      if (
        this.elicitingSinceAck >= (decimating ? this.threshold : ACK_ELICITING_THRESHOLD) ||
        outOfOrder ||
        ackNow ||
        total <= IMMEDIATE_FIRST ||
        this.afterNewGap()
      )
        this.immediate = true;
      else {
        const delay = decimating
          ? Math.min(this.maxAckDelay, Math.max(minRtt * ACK_DECIMATION_DELAY, ACK_DECIMATION_MIN_DELAY_MS))
          : this.maxAckDelay;
        if (now + delay < this.deadline) this.deadline = now + delay;
      }
    }
    return true;
  }

  /** A hole lies below the newest range and that range is still short: a new gap. */
  private afterNewGap(): boolean {
    const set = this.received;
    const top = set.size - 1;
    return top > 0 && set.endAt(top) - set.startAt(top) <= IMMEDIATE_AFTER_GAP;
  }

  /** An ACK must go out now (threshold, reordering or the delay timer). */
  shouldSend(now: number): boolean {
    return this.pending && (this.immediate || now >= this.deadline);
  }

  /** Builds an ACK frame for what was received, or null when nothing is to be acknowledged. */
  build(now: number): AckFrame | null {
    if (!this.pending || this.received.isEmpty()) return null;
    const set = this.received;
    const ranges: AckRange[] = [];
    for (let i = set.size - 1; i >= 0 && ranges.length < MAX_ACK_RANGES; i--) {
      ranges.push({ start: set.startAt(i), end: set.endAt(i) - 1 });
    }
    const delayUs = Math.max(0, Math.round((now - this.largestTime) * 1000));
    return { type: 'ack', delay: delayUs, ranges };
  }

  onAckSent(): void {
    this.pending = false;
    this.immediate = false;
    this.elicitingSinceAck = 0;
    this.deadline = Number.POSITIVE_INFINITY;
  }

  /** An ACK frame whose largest was `largest` was acknowledged by the peer (§13.2.4). */
  onAckAcked(largest: number): void {
    const f = largest + 1;
    // keep the newest range even if it is fully below, so reordering near the top still
    // reports correctly; everything below the acknowledged largest is known to the peer
    if (f > this.floor) {
      this.floor = Math.min(f, this.received.size > 0 ? this.received.startAt(this.received.size - 1) : f);
      this.received.removeBelow(this.floor);
    }
  }
}
