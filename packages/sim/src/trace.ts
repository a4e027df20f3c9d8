// Event kinds of the simulator, mixed into the trace hash by {@link Trace.begin}.
export const EV_SEND = 1;
export const EV_RECV = 2;
export const EV_DROP = 3;
export const EV_DUP = 4;
export const EV_NAT = 5;
export const EV_TIMER = 6;
export const EV_TOPOLOGY = 7;
export const EV_NOTE = 8;

/**
 * The run's fingerprint and (optionally) its last lines. Every event is mixed into a running
 * 64-bit hash (two 32-bit multiply-xorshift lanes) from numbers and short strings, so hashing costs
 * little and long runs can be compared for determinism without keeping them; human-readable
 * lines are only built when a ring of `limit > 0` lines is kept.
 */
export class Trace {
  readonly limit: number;
  readonly #ring: string[] = [];
  #head = 0;
  #h1 = 0x811c9dc5;
  #h2 = 0x050c5d1f;
  #count = 0;
  readonly #f64 = new Float64Array(1);
  readonly #u32 = new Uint32Array(this.#f64.buffer);

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 0) {
      throw new RangeError(`"traceLimit" expected an integer >= 0, got ${limit}`);
    }
    this.limit = limit;
  }

  /** Events recorded so far. */
  get count(): number {
    return this.#count;
  }

  /** Starts an event at time `now` of kind `kind` (a small integer). */
  begin(now: number, kind: number): void {
    this.#count++;
    this.#f64[0] = now;
    this.mix(kind);
    this.mix(this.#u32[0]!);
    this.mix(this.#u32[1]!);
  }

  mix(x: number): void {
    let a = this.#h1 ^ x;
    a = Math.imul(a ^ (a >>> 15), 0x2c1b3c6d);
    this.#h1 = a ^ (a >>> 12);
    let b = this.#h2 + x;
    b = Math.imul(b ^ (b >>> 16), 0x297a2d39);
    this.#h2 = b ^ (b >>> 13);
  }

  mixString(s: string): void {
    let h = 0x811c9dc5 ^ s.length;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    this.mix(h);
  }

  /** Stores a readable line (only call when `limit > 0`). */
  line(now: number, text: string): void {
    const l = `${now} ${text}`;
    if (this.#ring.length < this.limit) this.#ring.push(l);
    else {
      this.#ring[this.#head] = l;
      this.#head = (this.#head + 1) % this.limit;
    }
  }

  lines(): string[] {
    return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
  }

  hash(): string {
    return (this.#h1 >>> 0).toString(16).padStart(8, '0') + (this.#h2 >>> 0).toString(16).padStart(8, '0');
  }
}
