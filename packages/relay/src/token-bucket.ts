/**
 * A token bucket on the caller's clock (`now`, ms): `rate` bytes per second, at most `burst`
 * banked. A packet passes while the balance is positive and may take it negative by its own size
 * (debt), so the bucket never strands a packet larger than the burst, and a carrier that pauses
 * reading (WebSocket) can ask {@link TokenBucket.delay} how long to wait: the long-run rate is
 * `rate` either way. rate 0 = unlimited.
 */
export class TokenBucket {
  rate: number;
  burst: number;
  #tokens: number;
  #at: number;

  constructor(rate: number, burst: number, now: number) {
    this.rate = rate;
    this.burst = burst;
    this.#tokens = burst;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) * this.rate) / 1000);
      this.#at = now;
    }
  }

  /** Takes `n` tokens if the balance is positive; false (nothing taken) otherwise. */
  take(now: number, n: number): boolean {
    if (this.rate === 0) return true;
    this.#refill(now);
    if (this.#tokens <= 0) return false;
    this.#tokens -= n;
    return true;
  }

  /** Milliseconds until {@link take} would succeed (0 = now). */
  delay(now: number): number {
    if (this.rate === 0) return 0;
    this.#refill(now);
    return this.#tokens > 0 ? 0 : Math.ceil(((-this.#tokens + 1) * 1000) / this.rate);
  }
}
