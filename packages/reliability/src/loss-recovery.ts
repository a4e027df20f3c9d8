/**
 * Loss recovery, RFC 9002: the ledger of sent packets, what an ACK frame does to it, loss
 * detection by packet and time threshold (§6.1) with an adaptive reordering threshold (RFC 8985
 * §6.2), the probe timeout (§6.2) and persistent congestion (§7.6). Which frames a packet
 * carried and what their acknowledgement or loss means is the business of their owners (streams,
 * messages, the ACK tracker, the path's PMTU search), reached through `RecoveryHost`.
 *
 * An ACK frame applies five rules in order, one method each: `validateAck` (well-formed and not
 * beyond what we sent, RFC 9000 §13.1), `detectSpuriousLosses` (reordering), `markAcked` (the
 * packets it newly acknowledges, their bytes in flight and delivery-rate state), the RTT sample
 * (RFC 9002 §5.1), then `detectLostPackets` and the congestion controller's `onAck`.
 */
import type { AckFrame } from '@srmudp/wire';
import type { AckEvent } from './congestion/controller.js';
import type { DeliveryRateSampler } from './delivery-rate.js';
import { ErrorCode, ProtocolError } from './errors.js';
import { CONNECTION_SLOTS, numericSlots, RECOVERY_AT } from './numeric-slots.js';
import type { PathState } from './paths.js';
import { BASE_PLPMTU } from './pmtud.js';
import type { SentFrame, SentPacket } from './sent-packet.js';
import type { Counters } from './stats.js';

const PACKET_THRESHOLD = 3; // RFC 9002 §6.1.1
const MAX_PACKET_THRESHOLD = 300;
const MAX_RECENT_LOST = 1024;
const MAX_PTO_BACKOFF = 16; // cap the exponent so timers stay finite
/** recentLost until the first loss: shared, never written (an idle connection has lost nothing) */
const NO_LOSSES: number[] = [];
/** the ledger while nothing is outstanding: shared, never written (onPacketSent replaces it) */
const NO_SENT: (SentPacket | null)[] = [];
/** Slots of the send-time ring at first and again once nothing is outstanding (a power of two);
 * it doubles while more packets than it holds are outstanding above the largest acknowledged, up
 * to the limit `onPacketSent` is given (then an ACK whose largest is that old gives no sample
 * from the ring, only from the ledger). */
export const INITIAL_SEND_TIMES = 8;
/**
 * How many packets a connection can have outstanding above the largest acknowledged, the bound
 * of the send-time ring: its ack-eliciting packets are limited by the congestion window, its
 * ACK-only ones by the data the peer may have in flight towards it (our connection receive
 * window; at most one ACK-only packet per packet received). Counted in BASE_PLPMTU-sized
 * packets, doubled for packets below full size.
 */
export function sendTimeLimit(congestionWindow: number, receiveWindow: number): number {
  return (2 * (congestionWindow + receiveWindow)) / BASE_PLPMTU;
}
/**
 * The send-time ring is a plain array of doubles (stored unboxed), which for the eight slots of an
 * idle connection holds about 110 bytes of heap where a Float64Array of 16 held 180 and 128 more
 * outside it (issue 19). It is created packed (numericSlots) and grows by concatenation, which
 * keeps it packed: a holey array would check every load for a hole.
 */
/** Packets one loss detection declares lost at once from which it counts as a burst (logs). */
export const LOSS_BURST_PACKETS = 3;

/** What loss recovery tells the owners of a packet's content. */
export interface RecoveryHost {
  /** `p` was newly acknowledged (its bytes in flight are already released). */
  onPacketAcked(now: number, p: SentPacket, path: PathState): void;
  /** `p` was declared lost (its bytes in flight are already released). */
  onPacketLost(now: number, p: SentPacket, path: PathState): void;
  /** A PTO fired: resend `frames` (the oldest unacknowledged data), or a PING when null. */
  onProbeTimeout(now: number, frames: SentFrame[] | null, path: PathState): void;
  /** One detection declared `packets` (>= LOSS_BURST_PACKETS) lost, or persistent congestion. */
  onLossBurst(now: number, packets: number, bytes: number, persistent: boolean, path: PathState): void;
}

export class LossRecovery {
  /** packet numbers are monotonic and never reused, so every RTT sample is unambiguous */
  nextPn = 0;
  largestAcked = -1;
  bytesInFlight = 0;
  private ackElicitingInFlight = 0;
  private get lastAckElicitingSent(): number {
    return this.numbers[RECOVERY_AT + 0]!;
  }
  private set lastAckElicitingSent(x: number) {
    this.numbers[RECOVERY_AT + 0] = x;
  }
  /** earliest time-threshold loss among unacknowledged packets below largestAcked, or +Inf */
  private get lossTime(): number {
    return this.numbers[RECOVERY_AT + 1]!;
  }
  private set lossTime(x: number) {
    this.numbers[RECOVERY_AT + 1] = x;
  }
  /** consecutive PTOs since the last acknowledgement (the backoff exponent) */
  ptoCount = 0;
  /** probe packets that may bypass the congestion window (two per PTO, RFC 9002 §6.2.4) */
  probesToSend = 0;

  // The ledger: one slot per packet number (index = pn - sentBasePn), null once acknowledged,
  // lost or not ack-eliciting; `sentHead` skips the leading nulls.
  private sent: (SentPacket | null)[] = NO_SENT;
  private sentHead = 0;
  private sentBasePn = 0;

  /**
   * Packet numbers declared lost recently (sorted, bounded), so that an acknowledgement that
   * arrives for one of them later reveals a spurious loss: the packet was only reordered.
   */
  private recentLost: number[] = NO_LOSSES;
  /** RFC 9002 §6.1.1 kPacketThreshold, widened by spurious losses (RFC 8985 §6.2 idea; Linux's
   * adaptive reordering does the same, capped at 300 by tcp_max_reordering). */
  packetThreshold = PACKET_THRESHOLD;
  /** RFC 9002 §6.1.2 kTimeThreshold (9/8), widened by spurious losses up to 2. */
  private get lossTimeFactor(): number {
    return this.numbers[RECOVERY_AT + 2]!;
  }
  private set lossTimeFactor(x: number) {
    this.numbers[RECOVERY_AT + 2] = x;
  }

  constructor(
    private readonly maxAckDelay: number,
    private readonly rate: DeliveryRateSampler,
    private readonly counters: Counters,
    private readonly host: RecoveryHost,
    private readonly numbers: number[] = numericSlots(CONNECTION_SLOTS),
  ) {
    this.lossTime = Number.POSITIVE_INFINITY;
    this.lossTimeFactor = 9 / 8;
  }

  // ------------------------------------------------------------------ sending

  /**
   * Records a packet just built (`p.pn === nextPn - 1`); ack-eliciting ones count as in flight.
   * `maxOutstanding` bounds the send-time ring: how many packets this connection can really
   * have outstanding above the largest acknowledged (`sendTimeLimit`).
   */
  onPacketSent(p: SentPacket, maxOutstanding: number): void {
    if (p.ackEliciting) {
      this.bytesInFlight += p.size;
      this.ackElicitingInFlight++;
      this.lastAckElicitingSent = p.time;
    }
    // every pn is recorded so `sent` stays dense (index = pn - base)
    if (this.sent === NO_SENT) this.sent = [];
    this.sent.push(p.ackEliciting ? p : null);
    this.recordSendTime(p.pn, p.time, maxOutstanding);
    if (!p.ackEliciting) this.advanceSentHead();
  }

  /**
   * Keeps the send time of every packet number above `largestAcked` (the ones an ACK can still
   * newly acknowledge) in the ring, ACK-only packets included: the ledger holds only
   * ack-eliciting ones, but the largest acknowledged packet of an ACK is often ACK-only. The
   * ring grows while it holds fewer than `maxOutstanding` slots, so it is at most twice that.
   */
  private recordSendTime(pn: number, time: number, maxOutstanding: number): void {
    let times = this.sendTimes;
    if (pn - this.largestAcked >= times.length && times.length < maxOutstanding) {
      // more packets outstanding above largestAcked than slots: double, keeping them in place
      const grown = times.concat(times).fill(0);
      const from = Math.max(this.largestAcked + 1, pn - times.length);
      for (let q = from; q < pn; q++) grown[q & (grown.length - 1)] = times[q & (times.length - 1)]!;
      this.sendTimes = times = grown;
    }
    times[pn & (times.length - 1)] = time;
  }

  /** Slots of the send-time ring (tests: it is bounded and shrinks when idle). */
  get sendTimeSlots(): number {
    return this.sendTimes.length;
  }

  /**
   * Once no more than INITIAL_SEND_TIMES packets are outstanding above the largest acknowledged,
   * a grown ring goes back to its first size (keeping their send times), so a connection that
   * once had a large window does not hold a large ring while idle.
   */
  private shrinkSendTimes(): void {
    const times = this.sendTimes;
    if (times.length === INITIAL_SEND_TIMES || this.nextPn - this.largestAcked - 1 > INITIAL_SEND_TIMES)
      return;
    const small = numericSlots(INITIAL_SEND_TIMES);
    for (let q = this.largestAcked + 1; q < this.nextPn; q++) {
      small[q & (INITIAL_SEND_TIMES - 1)] = times[q & (times.length - 1)]!;
    }
    this.sendTimes = small;
  }

  /** Send time of packet `pn` (above `largestAcked`) if the ring still holds it, else NaN. */
  private sendTime(pn: number): number {
    const times = this.sendTimes;
    return this.nextPn - pn <= times.length ? times[pn & (times.length - 1)]! : Number.NaN;
  }

  // ------------------------------------------------------------------ ACK frames

  /**
   * Applies an ACK frame. Returns true when it newly acknowledged a packet (then the owners
   * were told, RTT and congestion state updated and losses detected). Throws ProtocolError for
   * a malformed ACK or one of a packet never sent.
   */
  onAckFrame(now: number, f: AckFrame, path: PathState): boolean {
    this.validateAck(f);
    const ranges = f.ranges;
    const largest = ranges[0]!.end;
    const ackDelay = Math.min(f.delay / 1000, this.maxAckDelay);
    if (this.recentLost.length > 0) this.detectSpuriousLosses(ranges);
    this.rate.beginAck();
    const largestNewly = this.markAcked(now, f, path);
    // The largest acknowledged is newly acknowledged exactly when it is above every packet
    // acknowledged before (packets above largestAcked are never declared lost), whether it was
    // ack-eliciting or ACK-only (after a PING an idle connection's next packet is often just an
    // ACK, and the peer acks both at once).
    const largestIsNew = largest > this.largestAcked;
    if (largestNewly === null) {
      if (largestIsNew) {
        this.largestAcked = largest;
        this.shrinkSendTimes();
      }
      return false;
    }
    // RFC 9002 §5.1: an RTT sample when the largest acknowledged is newly acked and at least one
    // newly acked packet was ack-eliciting, measured to the largest's send time; the ack delay
    // (capped at max_ack_delay above) is subtracted by the estimator when min_rtt allows (§5.3).
    if (largestIsNew && this.newlyAckedEliciting) {
      const sentAt = largestNewly.pn === largest ? largestNewly.time : this.sendTime(largest);
      if (!Number.isNaN(sentAt)) path.rtt.update(now - sentAt, ackDelay, sentAt);
    }
    if (largestIsNew) {
      this.largestAcked = largest;
      this.shrinkSendTimes();
    }
    this.rate.endAck();
    this.advanceSentHead();
    this.detectLostPackets(now, path);
    // RFC 9002 §6.2.1: the PTO backoff resets when an acknowledgement arrives
    this.ptoCount = 0;
    if (this.ackedBytes > 0) {
      const ack: AckEvent = {
        ackedBytes: this.ackedBytes,
        largestAckedSentTime: largestNewly.time,
        bytesInFlight: this.bytesInFlight,
        delivered: this.rate.delivered,
        rate: this.rate.sample(path.rtt.minRtt()),
        rtt: path.rtt,
        appLimited: this.rate.isAppLimited,
      };
      path.cc.onAck(now, ack);
    }
    return true;
  }

  /** RFC 9000 §19.3: ranges descending and disjoint; §13.1: nothing beyond what we sent. */
  private validateAck(f: AckFrame): void {
    const ranges = f.ranges;
    if (ranges.length === 0) throw new ProtocolError(ErrorCode.FRAME_ENCODING_ERROR, 'empty ACK');
    let prevStart = Number.POSITIVE_INFINITY;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      if (!(r.start <= r.end) || r.end + 1 >= prevStart) {
        throw new ProtocolError(ErrorCode.FRAME_ENCODING_ERROR, 'ACK ranges not descending and disjoint');
      }
      prevStart = r.start;
    }
    if (ranges[0]!.end >= this.nextPn) {
      // RFC 9000 §13.1: acknowledging a packet we never sent
      throw new ProtocolError(ErrorCode.PROTOCOL_VIOLATION, 'ACK of a packet never sent');
    }
  }

  /** in-flight bytes the ACK being applied newly acknowledged */
  private ackedBytes = 0;
  /** set by markAcked: the ACK newly acknowledged at least one ack-eliciting packet */
  private newlyAckedEliciting = false;
  /** send time per packet number, a ring indexed by `pn & (length - 1)` (see recordSendTime) */
  private sendTimes = numericSlots(INITIAL_SEND_TIMES);

  /**
   * Marks every packet the ACK newly acknowledges, releases its bytes in flight, feeds the
   * delivery-rate sampler and tells the owners; returns the largest newly acknowledged packet.
   */
  private markAcked(now: number, f: AckFrame, path: PathState): SentPacket | null {
    const ranges = f.ranges;
    const sent = this.sent;
    let largestNewly: SentPacket | null = null;
    this.ackedBytes = 0;
    this.newlyAckedEliciting = false;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      const last = Math.min(r.end - this.sentBasePn, sent.length - 1);
      for (let j = this.findSent(r.start); j <= last; j++) {
        const p = sent[j];
        if (p === null || p === undefined || p.acked || p.lost) continue;
        p.acked = true;
        sent[j] = null;
        if (largestNewly === null || p.pn > largestNewly.pn) largestNewly = p;
        if (p.ackEliciting) this.newlyAckedEliciting = true;
        if (p.inFlight) {
          this.bytesInFlight -= p.size;
          this.ackedBytes += p.size;
          if (p.ackEliciting) this.ackElicitingInFlight--;
          this.rate.onPacketAcked(p, now);
        }
        this.host.onPacketAcked(now, p, path);
      }
    }
    return largestNewly;
  }

  /** An ACK covering a packet we declared lost: it was reordered, not lost (RFC 9002 §6.1, RFC 8985 §6.2). */
  private detectSpuriousLosses(ranges: readonly { start: number; end: number }[]): void {
    const a = this.recentLost;
    const lo = a[0] as number;
    const hi = a[a.length - 1] as number;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      if (r.end < lo || r.start > hi) continue;
      for (let k = a.length - 1; k >= 0; k--) {
        const pn = a[k] as number;
        if (pn < r.start || pn > r.end) continue;
        a.splice(k, 1);
        this.counters.spuriousLosses++;
        // the packet arrived although `largestAcked - pn` later packets had been acknowledged
        const distance = this.largestAcked - pn + 1;
        if (distance > this.packetThreshold) this.packetThreshold = Math.min(distance, MAX_PACKET_THRESHOLD);
        this.lossTimeFactor = Math.min(this.lossTimeFactor + 1 / 8, 2);
      }
    }
  }

  private rememberLost(pn: number): void {
    if (this.recentLost === NO_LOSSES) this.recentLost = [];
    const a = this.recentLost;
    let i = a.length;
    while (i > 0 && (a[i - 1] as number) > pn) i--;
    a.splice(i, 0, pn);
    if (a.length > MAX_RECENT_LOST) a.splice(0, a.length - MAX_RECENT_LOST);
  }

  // ------------------------------------------------------------------ loss detection

  /** RFC 9002 §6.1: packet and time thresholds; §7.6 persistent congestion. */
  private detectLostPackets(now: number, path: PathState): void {
    this.lossTime = Number.POSITIVE_INFINITY;
    if (this.largestAcked < 0) return;
    const rtt = path.rtt;
    const lossDelay = rtt.lossDelay(this.lossTimeFactor);
    const sent = this.sent;
    let lostBytes = 0;
    let largestLostTime = Number.NEGATIVE_INFINITY;
    let firstLost: SentPacket | null = null;
    let lastLost: SentPacket | null = null;
    let lostCount = 0;
    const lastIdx = Math.min(this.largestAcked - this.sentBasePn, sent.length - 1);
    for (let j = this.sentHead; j <= lastIdx; j++) {
      const p = sent[j];
      if (p === null || p === undefined) continue;
      // the same expression as the timer below, so a timer firing at lossTime always declares
      if (p.time + lossDelay <= now || this.largestAcked >= p.pn + this.packetThreshold) {
        sent[j] = null;
        p.lost = true;
        if (p.ackEliciting && !p.mtuProbe) this.rememberLost(p.pn);
        if (p.inFlight) {
          this.bytesInFlight -= p.size;
          if (p.ackEliciting) this.ackElicitingInFlight--;
        }
        this.host.onPacketLost(now, p, path);
        if (p.inFlight && !p.mtuProbe) {
          lostBytes += p.size;
          if (p.time > largestLostTime) largestLostTime = p.time;
          if (p.ackEliciting) {
            if (firstLost === null) firstLost = p;
            lastLost = p;
            lostCount++;
          }
        }
      } else {
        const t = p.time + lossDelay;
        if (t < this.lossTime) this.lossTime = t;
      }
    }
    this.advanceSentHead();
    if (lostBytes > 0) {
      // RFC 9002 §7.6: persistent congestion when every packet across a long enough span was lost
      let persistent = false;
      if (firstLost !== null && lastLost !== null && rtt.hasSample) {
        const duration = rtt.pto(this.maxAckDelay) * 3;
        persistent =
          lastLost.time - firstLost.time > duration && lastLost.pn - firstLost.pn + 1 === lostCount;
      }
      path.cc.onLoss(now, {
        lostBytes,
        largestLostSentTime: largestLostTime,
        persistentCongestion: persistent,
        bytesInFlight: this.bytesInFlight,
        delivered: this.rate.delivered,
      });
      if (lostCount >= LOSS_BURST_PACKETS || persistent)
        this.host.onLossBurst(now, lostCount, lostBytes, persistent, path);
    }
  }

  // ------------------------------------------------------------------ timer

  /** RFC 9002 §6.2.1 / Appendix A.8: the loss-detection timer (time threshold, else PTO), or +Inf. */
  timer(path: PathState): number {
    if (this.lossTime !== Number.POSITIVE_INFINITY) return this.lossTime;
    if (this.ackElicitingInFlight <= 0) return Number.POSITIVE_INFINITY;
    return (
      this.lastAckElicitingSent + path.pto(this.maxAckDelay) * 2 ** Math.min(this.ptoCount, MAX_PTO_BACKOFF)
    );
  }

  /** RFC 9002 §6.2 / Appendix A.9: the loss-detection timer fired. */
  onTimeout(now: number, path: PathState): void {
    if (this.lossTime !== Number.POSITIVE_INFINITY) {
      this.detectLostPackets(now, path);
      return;
    }
    this.ptoCount++;
    this.probesToSend = 2;
    // RACK-TLP style tail probe: resend the oldest outstanding data (it is new data to the peer
    // if the tail was lost); a PING is sent when there is nothing to resend
    const sent = this.sent;
    let frames: SentFrame[] | null = null;
    for (let j = this.sentHead; j < sent.length; j++) {
      const p = sent[j];
      if (p === null || p === undefined || !p.ackEliciting || p.frames === null) continue;
      frames = p.frames;
      break;
    }
    this.host.onProbeTimeout(now, frames, path);
  }

  /** A new path: the PTO backoff of the old one says nothing about it. */
  onPathReset(): void {
    this.ptoCount = 0;
  }

  // ------------------------------------------------------------------ ledger

  /** Index in `sent` of packet `pn`, clamped to [sentHead, sent.length]. */
  private findSent(pn: number): number {
    const idx = pn - this.sentBasePn;
    if (idx <= this.sentHead) return this.sentHead;
    return Math.min(idx, this.sent.length);
  }

  private advanceSentHead(): void {
    const sent = this.sent;
    while (this.sentHead < sent.length && sent[this.sentHead] === null) this.sentHead++;
    if (this.sentHead === sent.length && this.sentHead > 0) {
      // nothing outstanding: let the slots go (an idle connection holds no ledger of its own)
      this.sent = NO_SENT;
      this.sentBasePn += this.sentHead;
      this.sentHead = 0;
    } else if (this.sentHead > 1024 && this.sentHead * 2 > sent.length) {
      this.sent = sent.slice(this.sentHead);
      this.sentBasePn += this.sentHead;
      this.sentHead = 0;
    }
  }
}
