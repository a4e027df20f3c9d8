/**
 * A token bucket on the caller's clock: `rate` tokens per second up to `burst`. Used for the
 * per-origin message and byte limits and the per-neighbour budgets of membership messages.
 */
export class TokenBucket {
  readonly #perMs: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  constructor(ratePerSecond: number, burst: number, now: number) {
    this.#perMs = ratePerSecond / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = now;
  }

  #refill(now: number): void {
    if (now > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) * this.#perMs);
      this.#last = now;
    }
  }

  /** Takes `n` tokens if there are that many; false (and nothing taken) otherwise. */
  take(now: number, n = 1): boolean {
    this.#refill(now);
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Whether taking `n` would succeed, without taking. */
  has(now: number, n = 1): boolean {
    this.#refill(now);
    return this.#tokens >= n;
  }

  /** The bucket is back at its burst: its state carries no information and it may be forgotten. */
  isFull(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= this.#burst;
  }
}
