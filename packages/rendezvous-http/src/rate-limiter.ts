/**
 * Token bucket per client address: `burst` requests at once, refilled at `perMinute`. Bounded
 * memory: when `maxClients` addresses are tracked, full buckets (idle clients) are forgotten first.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxClients: number;

  constructor(options: { perMinute: number; burst: number; maxClients?: number }) {
    this.#perMs = options.perMinute / 60_000;
    this.#burst = options.burst;
    this.#maxClients = options.maxClients ?? 10_000;
  }

  /** Takes one token for `client`; returns 0 when allowed, else ms until a token is available. */
  take(client: string, now: number): number {
    let b = this.#buckets.get(client);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxClients) this.#sweep(now);
      b = { tokens: this.#burst, at: now };
      this.#buckets.set(client, b);
    }
    b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - b.tokens) / this.#perMs);
  }

  #sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#burst) this.#buckets.delete(k);
    }
    // Still full (an attack from many addresses): drop the oldest half.
    if (this.#buckets.size >= this.#maxClients) {
      let n = Math.floor(this.#buckets.size / 2);
      for (const k of this.#buckets.keys()) {
        if (n-- <= 0) break;
        this.#buckets.delete(k);
      }
    }
  }

  get size(): number {
    return this.#buckets.size;
  }
}
