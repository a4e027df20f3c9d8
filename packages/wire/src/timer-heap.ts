/**
 * A binary min-heap of deadlines, the timer queue of every sans-IO state machine that has many
 * timers (gossip, the relay) and of @srmudp/sim's event loop. Entries are ordered by time, then
 * by insertion (equal deadlines leave in FIFO order, so a seeded run replays exactly).
 * Cancellation is the owner's business (lazy deletion: mark the item and skip it when it
 * reaches the top); the heap itself never looks inside an item.
 */
export interface HeapEntry<T> {
  readonly at: number;
  /** insertion order, unique per heap: ties on `at` leave in this order */
  readonly seq: number;
  readonly item: T;
}

export class TimerHeap<T> {
  private readonly h: HeapEntry<T>[] = [];
  private seq = 0;

  get size(): number {
    return this.h.length;
  }

  push(at: number, item: T): HeapEntry<T> {
    const e: HeapEntry<T> = { at, seq: this.seq++, item };
    const h = this.h;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p]!;
      if (!before(e, pe)) break;
      h[i] = pe;
      i = p;
    }
    h[i] = e;
    return e;
  }

  /** The earliest entry, left in the heap; undefined when empty. */
  peek(): HeapEntry<T> | undefined {
    return this.h[0];
  }

  /** Removes and returns the earliest entry; undefined when empty. */
  pop(): HeapEntry<T> | undefined {
    const h = this.h;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r]!, h[l]!) ? r : l;
      if (!before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }

  clear(): void {
    this.h.length = 0;
  }
}

function before<T>(a: HeapEntry<T>, b: HeapEntry<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
