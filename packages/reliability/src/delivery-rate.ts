/**
 * Delivery-rate sampling, draft-cheng-iccrg-delivery-rate-estimation (Linux `tcp_rate.c`): each
 * ack-eliciting packet is stamped with the connection's delivery state when sent (§3.2); each
 * ACK yields one rate sample from the newest acknowledged packet (§3.3), which BBR turns into
 * its bottleneck-bandwidth estimate and round counting. The sender marks itself application
 * limited when it had nothing to send while the window was open (§3.4, RFC 9002 §7.8).
 */
import type { RateSample } from './congestion/controller.js';
import { CONNECTION_SLOTS, numericSlots, RATE_AT } from './numeric-slots.js';
import type { SentPacket } from './sent-packet.js';

export class DeliveryRateSampler {
  /** bytes delivered (acknowledged in flight) over the connection's life */
  delivered = 0;
  /** when `delivered` last grew */
  private get deliveredTime(): number {
    return this.numbers[RATE_AT + 0]!;
  }
  private set deliveredTime(x: number) {
    this.numbers[RATE_AT + 0] = x;
  }
  /** send time of the newest packet acknowledged so far (start of the next send interval) */
  private get firstSentTime(): number {
    return this.numbers[RATE_AT + 1]!;
  }
  private set firstSentTime(x: number) {
    this.numbers[RATE_AT + 1] = x;
  }
  /** application limited until `delivered` passes this (0 = not limited) */
  private appLimitedUntil = 0;

  // the sample of the ACK being processed: from the newest packet it acknowledges
  private priorDelivered = -1;
  private get priorTime(): number {
    return this.numbers[RATE_AT + 2]!;
  }
  private set priorTime(x: number) {
    this.numbers[RATE_AT + 2] = x;
  }
  private get sendElapsed(): number {
    return this.numbers[RATE_AT + 3]!;
  }
  private set sendElapsed(x: number) {
    this.numbers[RATE_AT + 3] = x;
  }
  private sampleAppLimited = false;
  private get sampleRtt(): number {
    return this.numbers[RATE_AT + 4]!;
  }
  private set sampleRtt(x: number) {
    this.numbers[RATE_AT + 4] = x;
  }

  constructor(private readonly numbers: number[] = numericSlots(CONNECTION_SLOTS)) {
    this.sampleRtt = -1;
  }

  /** Stamps an ack-eliciting packet with the delivery state (before it joins the bytes in flight). */
  onPacketSent(p: SentPacket, now: number, bytesInFlight: number): void {
    if (bytesInFlight === 0) {
      this.firstSentTime = now;
      this.deliveredTime = now;
    }
    p.delivered = this.delivered;
    p.deliveredTime = this.deliveredTime;
    p.firstSentTime = this.firstSentTime;
    p.appLimited = this.appLimitedUntil > 0;
  }

  /** Nothing was sent although the window was open: samples until now are application limited. */
  onAppLimited(bytesInFlight: number): void {
    this.appLimitedUntil = Math.max(this.delivered + bytesInFlight, 1);
  }

  /** Starts the sample of one ACK frame. */
  beginAck(): void {
    this.priorDelivered = -1;
    this.priorTime = 0;
    this.sendElapsed = 0;
    this.sampleAppLimited = false;
    this.sampleRtt = -1;
  }

  /** An in-flight packet was newly acknowledged at `now`. */
  onPacketAcked(p: SentPacket, now: number): void {
    this.delivered += p.size;
    this.deliveredTime = now;
    if (p.delivered >= this.priorDelivered) {
      this.priorDelivered = p.delivered;
      this.priorTime = p.deliveredTime;
      this.sendElapsed = p.time - p.firstSentTime;
      this.sampleAppLimited = p.appLimited;
      this.sampleRtt = now - p.time;
      this.firstSentTime = p.time;
    }
  }

  /** After the ACK's packets: the application-limited phase ends once its data is delivered. */
  endAck(): void {
    if (this.appLimitedUntil > 0 && this.delivered > this.appLimitedUntil) this.appLimitedUntil = 0;
  }

  /** The newest acknowledged packet was sent while application limited. */
  get isAppLimited(): boolean {
    return this.sampleAppLimited;
  }

  /** The ACK's rate sample (§3.3); `minRtt` rejects intervals too short to measure a rate. */
  sample(minRtt: number): RateSample {
    const prior = this.priorDelivered;
    let delivered = 0;
    let interval = 0;
    if (prior >= 0) {
      delivered = this.delivered - prior;
      const ackElapsed = this.deliveredTime - this.priorTime;
      interval = Math.max(this.sendElapsed, ackElapsed);
      // an interval below min RTT would overestimate the rate (tcp_rate.c)
      if (interval < minRtt || interval <= 0) delivered = 0;
    }
    return {
      delivered,
      interval,
      isAppLimited: this.sampleAppLimited,
      priorDelivered: Math.max(prior, 0),
      rtt: this.sampleRtt,
    };
  }
}
