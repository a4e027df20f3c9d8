/** Largest burst in datagrams: 2 ms at up to ~190 MB/s with 1,472-byte datagrams (the cap was
 * 32, which held a driver with millisecond timers to ~47 MB/s; only paths faster than that
 * reach it, slower ones get 2 ms at their rate). */
import { numericSlots, PACER_AT, PATH_SLOTS } from './numeric-slots.js';

const MAX_BURST = 256;
/**
 * Token-bucket pacer (RFC 9002 §7.7): spreads the congestion window over the smoothed RTT
 * (rate = gain x cwnd / srtt, gain 1.25, 2 in slow start) or follows the controller's own pacing
 * rate (BBR). The bucket holds a short burst (2 ms at the current rate, between 2 and
 * MAX_BURST datagrams) so a driver with millisecond timers still fills the pipe.
 */
export class Pacer {
  private get tokens(): number {
    return this.numbers[PACER_AT + 0]!;
  }
  private set tokens(x: number) {
    this.numbers[PACER_AT + 0] = x;
  }
  private get last(): number {
    return this.numbers[PACER_AT + 1]!;
  }
  private set last(x: number) {
    this.numbers[PACER_AT + 1] = x;
  }
  /** bytes per ms */
  private get rate(): number {
    return this.numbers[PACER_AT + 2]!;
  }
  private set rate(x: number) {
    this.numbers[PACER_AT + 2] = x;
  }
  private get capacity(): number {
    return this.numbers[PACER_AT + 3]!;
  }
  private set capacity(x: number) {
    this.numbers[PACER_AT + 3] = x;
  }

  constructor(
    now: number,
    mss: number,
    private readonly numbers: number[] = numericSlots(PATH_SLOTS),
  ) {
    this.capacity = 10 * mss;
    this.tokens = this.capacity;
    this.last = now;
  }

  /** Sets the rate (bytes/ms) and refills the bucket up to `now`. */
  update(now: number, rate: number, mss: number): void {
    this.rate = rate;
    this.capacity = Number.isFinite(rate) ? Math.max(2 * mss, Math.min(rate * 2, MAX_BURST * mss)) : 32 * mss;
    if (now > this.last) {
      this.tokens = Number.isFinite(rate)
        ? Math.min(this.capacity, this.tokens + (now - this.last) * rate)
        : this.capacity;
      this.last = now;
    }
    if (this.tokens > this.capacity) this.tokens = this.capacity;
  }

  /** Time at which `bytes` may be sent: `now` when the bucket holds them. */
  nextSendTime(now: number, bytes: number): number {
    // (a nanosecond of slack so floating-point rounding cannot stall a timer at `now`)
    if (this.tokens >= bytes - 1e-6 * this.rate || this.rate <= 0 || !Number.isFinite(this.rate)) return now;
    return Math.max(now, this.last + (bytes - this.tokens) / this.rate);
  }

  onSend(bytes: number): void {
    this.tokens -= bytes;
    if (this.tokens < -this.capacity) this.tokens = -this.capacity;
  }
}
