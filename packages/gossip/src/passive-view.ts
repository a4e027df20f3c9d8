/**
 * HyParView's passive view: members we know but are not connected to, the candidates that
 * replace a failed neighbour. Each entry keeps the member's opaque signed record (so the host can
 * dial it) and its introducer (the member through which it can be reached if a punch fails).
 *
 * Eclipse guard: entries are also counted by `source`, the authenticated neighbour that handed
 * them to us; one source may hold at most `perSourceCap` entries. A hostile neighbour that sends
 * a flood of fake members can therefore only replace its own earlier entries, never fill the view.
 */
import type { RandomSource } from './random.js';

export interface PassiveEntry {
  peer: Uint8Array;
  record: Uint8Array;
  /** a member that knows `peer` (dial via it when a direct dial fails); null when we knew it first-hand */
  introducer: Uint8Array | null;
  /** the neighbour that told us (counts toward its cap); null when first-hand */
  source: Uint8Array | null;
}

interface Slot extends PassiveEntry {
  key: string;
  sourceKey: string | null;
}

export class PassiveView {
  readonly #slots = new Map<string, Slot>();
  readonly #perSource = new Map<string, number>();
  readonly #capacity: number;
  readonly #perSourceCap: number;
  readonly #random: RandomSource;

  constructor(capacity: number, perSourceCap: number, random: RandomSource) {
    this.#capacity = capacity;
    this.#perSourceCap = perSourceCap;
    this.#random = random;
  }

  get size(): number {
    return this.#slots.size;
  }

  has(key: string): boolean {
    return this.#slots.has(key);
  }

  get(key: string): PassiveEntry | undefined {
    return this.#slots.get(key);
  }

  keys(): string[] {
    return [...this.#slots.keys()];
  }

  entries(): PassiveEntry[] {
    return [...this.#slots.values()].map(({ peer, record, introducer, source }) => ({
      peer,
      record,
      introducer,
      source,
    }));
  }

  /** Entries from `sourceKey` currently held. */
  countFrom(sourceKey: string): number {
    return this.#perSource.get(sourceKey) ?? 0;
  }

  /**
   * Adds (or refreshes) an entry. A first-hand entry replaces what a third party said about the
   * same member; a third-party entry never overwrites one we hold. When full, evicts a random
   * entry, preferring those in `preferEvict` (HyParView: the entries we just sent in a shuffle).
   * Returns whether the entry is now held.
   */
  add(
    key: string,
    entry: PassiveEntry,
    sourceKey: string | null,
    preferEvict?: ReadonlySet<string>,
  ): boolean {
    const old = this.#slots.get(key);
    if (old) {
      if (sourceKey !== null) return true;
      this.#remove(key, old);
    } else if (sourceKey !== null && this.countFrom(sourceKey) >= this.#perSourceCap) {
      // At its cap a source can only rotate its own entries.
      const own = [...this.#slots.values()].filter((s) => s.sourceKey === sourceKey);
      const victim = this.#random.pick(own);
      if (!victim) return false;
      this.#remove(victim.key, victim);
    } else if (this.#slots.size >= this.#capacity) {
      let victimKey: string | undefined;
      if (preferEvict && preferEvict.size > 0) {
        victimKey = this.#random.pick([...preferEvict].filter((k) => this.#slots.has(k) && k !== key));
      }
      victimKey ??= this.#random.pick(this.keys());
      if (victimKey === undefined) return false;
      this.#remove(victimKey, this.#slots.get(victimKey)!);
    }
    const slot: Slot = { ...entry, key, sourceKey };
    this.#slots.set(key, slot);
    if (sourceKey !== null) this.#perSource.set(sourceKey, this.countFrom(sourceKey) + 1);
    return true;
  }

  remove(key: string): boolean {
    const s = this.#slots.get(key);
    if (!s) return false;
    this.#remove(key, s);
    return true;
  }

  /** Drops every entry `sourceKey` gave us (after it was penalised). */
  removeFromSource(sourceKey: string): number {
    let n = 0;
    for (const [k, s] of this.#slots) {
      if (s.sourceKey === sourceKey) {
        this.#remove(k, s);
        n++;
      }
    }
    return n;
  }

  /** Up to `k` random entries whose key passes `filter`. */
  sample(k: number, filter: (key: string) => boolean = () => true): { key: string; entry: PassiveEntry }[] {
    const keys = this.keys().filter(filter);
    return this.#random.sample(keys, k).map((key) => ({ key, entry: this.#slots.get(key)! }));
  }

  #remove(key: string, s: Slot): void {
    this.#slots.delete(key);
    if (s.sourceKey !== null) {
      const n = this.countFrom(s.sourceKey) - 1;
      if (n > 0) this.#perSource.set(s.sourceKey, n);
      else this.#perSource.delete(s.sourceKey);
    }
  }
}
