import { equalBytes, toHex } from '@srmudp/wire';
import { RendezvousError } from './errors.js';

interface Entry {
  readonly seq: number;
  readonly value: Uint8Array;
}

/**
 * One value per key, highest sequence wins: the storage rule of every backend, in memory. Used by
 * the memory and manual backends and the HTTP server; exported for third-party backends.
 * put() throws STALE_SEQUENCE for a lower seq, or the same seq with different bytes; the same seq
 * with the same bytes is an idempotent no-op.
 */
export class SequencedStore {
  readonly #entries = new Map<string, Entry>();
  readonly #listeners = new Map<string, Set<(value: Uint8Array) => void>>();
  readonly #maxEntries: number;

  constructor(options: { maxEntries?: number } = {}) {
    this.#maxEntries = options.maxEntries ?? Number.POSITIVE_INFINITY;
  }

  /** Stores a copy of `value`; returns false when it was already stored (idempotent). */
  put(key: Uint8Array, value: Uint8Array, seq: number): boolean {
    const k = toHex(key);
    const prev = this.#entries.get(k);
    if (prev !== undefined) {
      if (seq < prev.seq) {
        throw new RendezvousError('STALE_SEQUENCE', `seq ${seq} is below the stored seq ${prev.seq}`);
      }
      if (seq === prev.seq) {
        if (equalBytes(prev.value, value)) return false;
        throw new RendezvousError('STALE_SEQUENCE', `seq ${seq} is already stored with another value`);
      }
    } else if (this.#entries.size >= this.#maxEntries) {
      throw new RendezvousError('UNAVAILABLE', `store is full (${this.#maxEntries} keys)`);
    }
    const copy = value.slice();
    this.#entries.set(k, { seq, value: copy });
    for (const l of this.#listeners.get(k) ?? []) l(copy);
    return true;
  }

  get(key: Uint8Array): Uint8Array | null {
    return this.#entries.get(toHex(key))?.value.slice() ?? null;
  }

  seq(key: Uint8Array): number | undefined {
    return this.#entries.get(toHex(key))?.seq;
  }

  /** Calls `listener` with every new value of `key`; returns the unsubscribe function. */
  subscribe(key: Uint8Array, listener: (value: Uint8Array) => void): () => void {
    const k = toHex(key);
    let set = this.#listeners.get(k);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(k, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.#listeners.delete(k);
    };
  }

  /**
   * Yields the current value (if any) and then every change, never the same bytes twice in a
   * row; ends when any of the signals fires.
   */
  async *watch(
    key: Uint8Array,
    signals: readonly (AbortSignal | undefined)[],
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const live = signals.filter((s): s is AbortSignal => s !== undefined);
    if (live.some((s) => s.aborted)) return;
    let latest: Uint8Array | null = this.get(key);
    let last: Uint8Array | null = null;
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const unsubscribe = this.subscribe(key, (v) => {
      latest = v;
      notify();
    });
    for (const s of live) s.addEventListener('abort', notify, { once: true });
    try {
      while (!live.some((s) => s.aborted)) {
        const v = latest;
        if (v !== null && (last === null || !equalBytes(v, last))) {
          last = v;
          yield v.slice();
          continue;
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      unsubscribe();
      for (const s of live) s.removeEventListener('abort', notify);
    }
  }

  /** Forgets a key's value (its sequence too: a later put of any seq is accepted). */
  delete(key: Uint8Array): boolean {
    return this.#entries.delete(toHex(key));
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }
}
