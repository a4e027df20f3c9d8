/**
 * A bounded map that forgets its oldest keys in bulk, for tables with one entry per remote
 * address or peer that must not grow without bound (anti-amplification credit, replay
 * timestamps, validated addresses).
 *
 * It keeps two generations. A key set goes into the newer one; once that holds `generation`
 * keys, the older generation is dropped whole and the newer one takes its place. So the map
 * always remembers at least the `generation` keys set most recently (a key set again counts as
 * recent) and holds at most `2 × generation`.
 *
 * Why not one `Map` trimmed at its oldest key on every insert: V8 keeps a deleted entry's slot
 * until the table is rebuilt, and `keys().next()` finds the oldest live key by skipping the dead
 * slots at the front. At the cap that costs ~0.4 µs per insert at 1,024 entries, ~1 µs at 4,096
 * and ~3 µs at 16,384, on every datagram or handshake that inserts (issue 19). Here no insert
 * iterates, and a rollover allocates one empty `Map`.
 *
 * Values must not be `undefined` (`get` could not tell them from a missing key).
 */
export class GenerationalMap<K, V> {
  #newer = new Map<K, V>();
  #older = new Map<K, V>();
  readonly generation: number;

  constructor(generation: number) {
    if (!Number.isSafeInteger(generation) || generation < 1)
      throw new RangeError(`GenerationalMap: generation must be a positive integer, got ${generation}`);
    this.generation = generation;
  }

  get(key: K): V | undefined {
    const v = this.#newer.get(key);
    return v !== undefined ? v : this.#older.get(key);
  }

  has(key: K): boolean {
    return this.#newer.has(key) || this.#older.has(key);
  }

  /** Sets `key` in the newer generation (moving it there when it was in the older one). */
  set(key: K, value: V): this {
    this.#older.delete(key);
    this.#newer.set(key, value);
    if (this.#newer.size >= this.generation) {
      this.#older = this.#newer;
      this.#newer = new Map();
    }
    return this;
  }

  delete(key: K): boolean {
    return this.#newer.delete(key) || this.#older.delete(key);
  }

  clear(): void {
    this.#newer.clear();
    this.#older.clear();
  }

  /** Keys held now (each in one generation only). */
  get size(): number {
    return this.#newer.size + this.#older.size;
  }

  /** The values held, the newer generation's first. */
  *values(): IterableIterator<V> {
    yield* this.#newer.values();
    yield* this.#older.values();
  }
}
