/**
 * Random choices (walk targets, evictions, shuffle samples, jitter) drawn from the host's
 * `random(n)` source. Bytes are fetched in blocks so a pick costs no call to the host; a seeded
 * source makes every choice reproducible in the simulator.
 */
const BLOCK = 256;

export class RandomSource {
  readonly #random: (n: number) => Uint8Array;
  #buf: Uint8Array = new Uint8Array(0);
  #pos = 0;

  constructor(random: (n: number) => Uint8Array) {
    this.#random = random;
  }

  /** `n` fresh bytes straight from the source (ids that must not be predictable). */
  bytes(n: number): Uint8Array {
    const b = this.#random(n);
    if (!(b instanceof Uint8Array) || b.length !== n) {
      throw new TypeError(`"random(${n})" expected Uint8Array of length ${n}`);
    }
    return b;
  }

  u32(): number {
    if (this.#pos + 4 > this.#buf.length) {
      this.#buf = this.bytes(BLOCK);
      this.#pos = 0;
    }
    const b = this.#buf;
    const p = this.#pos;
    this.#pos = p + 4;
    return (b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!)) >>> 0;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling), n ≤ 2^32. */
  int(n: number): number {
    if (n <= 1) return 0;
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const v = this.u32();
      if (v < limit) return v % n;
    }
  }

  /** A uniformly chosen element, or undefined for an empty array. */
  pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[this.int(items.length)];
  }

  /** Up to `k` distinct elements in random order (partial Fisher–Yates on a copy). */
  sample<T>(items: readonly T[], k: number): T[] {
    const a = items.slice();
    const n = Math.min(k, a.length);
    for (let i = 0; i < n; i++) {
      const j = i + this.int(a.length - i);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
    a.length = n;
    return a;
  }

  /** `ms` scaled by a uniform factor in [1 − f, 1 + f]: spreads periodic timers apart. */
  jitter(ms: number, f = 0.25): number {
    return ms * (1 - f + (2 * f * this.u32()) / 2 ** 32);
  }
}
