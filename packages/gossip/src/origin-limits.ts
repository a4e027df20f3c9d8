/**
 * Per-origin rate limits: every member keeps, for each origin, a message bucket and a byte bucket
 * on its own clock. A message over either limit is neither delivered nor forwarded, so one member
 * cannot make the group carry more than `rate` of its messages whatever it sends. Buckets back at
 * full are forgotten (they hold no information), so memory follows active origins only.
 */
import { TokenBucket } from './token-bucket.js';

interface Buckets {
  messages: TokenBucket;
  bytes: TokenBucket;
}

export class OriginLimits {
  readonly #buckets = new Map<string, Buckets>();
  readonly #rate: number;
  readonly #burst: number;
  readonly #byteRate: number;
  readonly #byteBurst: number;

  constructor(rate: number, burst: number, byteRate: number, byteBurst: number) {
    this.#rate = rate;
    this.#burst = burst;
    this.#byteRate = byteRate;
    this.#byteBurst = byteBurst;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Charges one message of `size` bytes to `origin`; false (nothing charged) when over a limit. */
  admit(now: number, origin: string, size: number): boolean {
    let b = this.#buckets.get(origin);
    if (!b) {
      b = {
        messages: new TokenBucket(this.#rate, this.#burst, now),
        bytes: new TokenBucket(this.#byteRate, this.#byteBurst, now),
      };
      this.#buckets.set(origin, b);
    }
    if (!b.messages.has(now, 1) || !b.bytes.has(now, size)) return false;
    b.messages.take(now, 1);
    b.bytes.take(now, size);
    return true;
  }

  sweep(now: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.messages.isFull(now) && b.bytes.isFull(now)) this.#buckets.delete(k);
    }
  }
}
