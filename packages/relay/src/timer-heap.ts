/**
 * A binary min-heap of deadlines with lazy deletion: a deadline that moved or whose owner went
 * away stays in the heap and is skipped when it reaches the top (`live` says whether it still
 * counts). The relay pushes an entry when a deadline is set, never per data packet.
 */
export interface TimerEntry<T> {
  readonly at: number;
  readonly item: T;
}

export class TimerHeap<T> {
  readonly #heap: TimerEntry<T>[] = [];
  readonly #live: (entry: TimerEntry<T>) => boolean;

  constructor(live: (entry: TimerEntry<T>) => boolean) {
    this.#live = live;
  }

  get size(): number {
    return this.#heap.length;
  }

  push(at: number, item: T): void {
    const h = this.#heap;
    h.push({ at, item });
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= h[i]!.at) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }

  /** Earliest live deadline, or null (stale entries on top are discarded). */
  peek(): number | null {
    while (this.#heap.length > 0 && !this.#live(this.#heap[0]!)) this.#pop();
    return this.#heap.length > 0 ? this.#heap[0]!.at : null;
  }

  /** The next live entry due at or before `now`, removed from the heap; null when none. */
  popDue(now: number): TimerEntry<T> | null {
    const at = this.peek();
    if (at === null || at > now) return null;
    return this.#pop();
  }

  clear(): void {
    this.#heap.length = 0;
  }

  #pop(): TimerEntry<T> {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.at < h[m]!.at) m = l;
        if (r < h.length && h[r]!.at < h[m]!.at) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
