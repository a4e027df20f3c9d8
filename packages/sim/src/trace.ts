/**
 * A bounded ring of trace lines plus a running 64-bit hash (two FNV-1a lanes) of every line ever
 * added, so long runs can be compared for determinism without keeping them.
 */
export class Trace {
  readonly #limit: number;
  readonly #ring: string[] = [];
  #head = 0;
  #h1 = 0x811c9dc5;
  #h2 = 0x050c5d1f;
  #count = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 0)
      throw new RangeError(`"traceLimit" expected an integer >= 0, got ${limit}`);
    this.#limit = limit;
  }

  /** Lines recorded so far (including ones evicted from the ring). */
  get count(): number {
    return this.#count;
  }

  add(now: number, text: string): void {
    const line = `${now} ${text}`;
    let h1 = this.#h1;
    let h2 = this.#h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x2c9277b5) + 0x3d4d51cb;
    }
    h1 = Math.imul(h1 ^ 10, 0x01000193);
    h2 = Math.imul(h2 ^ 10, 0x2c9277b5);
    this.#h1 = h1;
    this.#h2 = h2;
    this.#count++;
    if (this.#limit === 0) return;
    if (this.#ring.length < this.#limit) this.#ring.push(line);
    else {
      this.#ring[this.#head] = line;
      this.#head = (this.#head + 1) % this.#limit;
    }
  }

  lines(): string[] {
    return [...this.#ring.slice(this.#head), ...this.#ring.slice(0, this.#head)];
  }

  hash(): string {
    return (this.#h1 >>> 0).toString(16).padStart(8, '0') + (this.#h2 >>> 0).toString(16).padStart(8, '0');
  }
}
