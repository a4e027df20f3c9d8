/**
 * A small, fast, seeded PRNG: xoshiro128** (Blackman & Vigna, 2018) seeded through splitmix32.
 * Not cryptographic; it exists so every simulated run is reproducible from one seed.
 */
export class Rng {
  /** The seed this generator was derived from (forks append `/label`). */
  readonly seed: string;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number | string) {
    if (typeof seed === 'number') {
      if (!Number.isFinite(seed)) throw new RangeError(`"seed" expected a finite number, got ${seed}`);
    } else if (typeof seed !== 'string') {
      throw new TypeError(`"seed" expected number or string, got ${typeof seed}`);
    }
    this.seed = String(seed);
    // splitmix32 over a 32-bit hash of the seed text fills the 128-bit state; it never yields the
    // all-zero state xoshiro must avoid because splitmix32 is a bijection of a counter.
    let s = hashString(this.seed);
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.#b, 5), 7), 9) >>> 0;
    const t = this.#b << 9;
    this.#c ^= this.#a;
    this.#d ^= this.#b;
    this.#b ^= this.#c;
    this.#a ^= this.#d;
    this.#c ^= t;
    this.#d = rotl(this.#d, 11);
    return r;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.u32() >>> 5; // 27 bits
    const lo = this.u32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) {
      throw new RangeError(`"n" expected an integer in 1..2^32, got ${n}`);
    }
    return Math.floor(this.next() * n);
  }

  /** True with probability `p` (always consumes one draw, so streams stay aligned whatever `p` is). */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** `n` random bytes. */
  bytes(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`"n" expected a non-negative integer, got ${n}`);
    return this.fill(new Uint8Array(n));
  }

  /** Fills `out` with random bytes and returns it (shape of a `random(bytes)` source). */
  fill(out: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const v = this.u32();
      out[i] = v & 0xff;
      out[i + 1] = (v >>> 8) & 0xff;
      out[i + 2] = (v >>> 16) & 0xff;
      out[i + 3] = v >>> 24;
    }
    if (i < out.length) {
      let v = this.u32();
      for (; i < out.length; i++, v >>>= 8) out[i] = v & 0xff;
    }
    return out;
  }

  /**
   * An independent generator derived from this one's seed and `label` only (not from how much
   * of this stream was consumed), so adding draws in one component never perturbs another.
   * Forking the same label twice gives the same stream.
   */
  fork(label: string): Rng {
    return new Rng(`${this.seed}/${label}`);
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** 32-bit FNV-1a over UTF-16 code units, then a murmur3 finaliser for avalanche. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
