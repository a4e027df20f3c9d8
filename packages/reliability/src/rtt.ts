/**
 * Round-trip time estimator, RFC 9002 §5: min_rtt over the connection's lifetime (or since it was
 * reset by a path change), an EWMA smoothed_rtt (1/8) and rttvar (1/4), both fed with samples
 * from which the peer's reported ack delay is removed when that leaves at least min_rtt.
 *
 * Provisional samples: the samples of a connection's first moments (the handshake's, and those of
 * packets sent while it warms up, see `Liveness`) queue behind handshake work on both hosts (a
 * server or process that accepts many connections at once spends milliseconds of CPU per
 * handshake), and queueing only ever adds. So a provisional sample below every sample so far
 * re-initialises the estimator as the first sample does (RFC 9002 §5.3): smoothed_rtt = sample,
 * rttvar = sample / 2. With the 1/8 EWMA alone, one inflated handshake sample would dominate an
 * idle connection's estimate for its lifetime (it rarely takes another sample).
 */
import { numericSlots, PATH_SLOTS, RTT_AT } from './numeric-slots.js';
export const INITIAL_RTT_MS = 333; // RFC 9002 §6.2.2
export const TIMER_GRANULARITY_MS = 1; // RFC 9002 §6.1.2

export class RttEstimator {
  get latest(): number {
    return this.numbers[RTT_AT + 0]!;
  }
  set latest(x: number) {
    this.numbers[RTT_AT + 0] = x;
  }
  get smoothed(): number {
    return this.numbers[RTT_AT + 1]!;
  }
  set smoothed(x: number) {
    this.numbers[RTT_AT + 1] = x;
  }
  get variance(): number {
    return this.numbers[RTT_AT + 2]!;
  }
  set variance(x: number) {
    this.numbers[RTT_AT + 2] = x;
  }
  get min(): number {
    return this.numbers[RTT_AT + 3]!;
  }
  set min(x: number) {
    this.numbers[RTT_AT + 3] = x;
  }
  hasSample = false;
  /**
   * Samples of packets sent at or before this time are provisional (see above): -Infinity (none)
   * unless a warm-up is running; +Infinity until its last probe leaves, then that probe's time.
   */
  get provisionalUntil(): number {
    return this.numbers[RTT_AT + 4]!;
  }
  set provisionalUntil(x: number) {
    this.numbers[RTT_AT + 4] = x;
  }

  constructor(
    initialRtt = INITIAL_RTT_MS,
    private readonly numbers: number[] = numericSlots(PATH_SLOTS),
  ) {
    this.min = Number.POSITIVE_INFINITY;
    this.provisionalUntil = Number.NEGATIVE_INFINITY;
    this.smoothed = initialRtt;
    this.variance = initialRtt / 2;
  }

  /**
   * RFC 9002 §5.3. `ackDelay` is already capped at max_ack_delay by the caller; `sentAt` is when
   * the acknowledged packet left (-Infinity for a handshake's sample, which is always provisional).
   */
  update(sample: number, ackDelay: number, sentAt = Number.NEGATIVE_INFINITY): void {
    if (!(sample >= 0)) return;
    this.latest = sample;
    const lowest = sample < this.min;
    if (lowest) this.min = sample;
    if (!this.hasSample || (lowest && sentAt <= this.provisionalUntil)) {
      this.hasSample = true;
      this.smoothed = sample;
      this.variance = sample / 2;
      return;
    }
    let adjusted = sample;
    if (sample >= this.min + ackDelay) adjusted = sample - ackDelay;
    this.variance = 0.75 * this.variance + 0.25 * Math.abs(this.smoothed - adjusted);
    this.smoothed = 0.875 * this.smoothed + 0.125 * adjusted;
  }

  /** min_rtt, or the smoothed RTT before any sample. */
  minRtt(): number {
    return this.hasSample ? this.min : this.smoothed;
  }

  /** Probe timeout base, RFC 9002 §6.2.1 (without backoff). */
  pto(maxAckDelay: number): number {
    return this.smoothed + Math.max(4 * this.variance, TIMER_GRANULARITY_MS) + maxAckDelay;
  }

  /** Time threshold of loss detection, RFC 9002 §6.1.2: 9/8 x max(smoothed, latest). */
  lossDelay(factor = 9 / 8): number {
    return Math.max(factor * Math.max(this.smoothed, this.latest), TIMER_GRANULARITY_MS);
  }

  reset(initialRtt = INITIAL_RTT_MS): void {
    this.latest = 0;
    this.smoothed = initialRtt;
    this.variance = initialRtt / 2;
    this.min = Number.POSITIVE_INFINITY;
    this.hasSample = false;
    this.provisionalUntil = Number.NEGATIVE_INFINITY;
  }
}
