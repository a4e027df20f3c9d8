/**
 * The one timer table of a gossip instance: a min-heap of deadlines with lazy cancellation.
 * Membership, broadcast tree, fetches and housekeeping all schedule here, so `pollTimeout()` is
 * one peek and `handleTimeout(now)` runs every due deadline in time order.
 */
export interface Timer {
  readonly at: number;
  /** null once cancelled or fired */
  fire: ((now: number) => void) | null;
}

interface Slot {
  at: number;
  seq: number;
  timer: Timer;
}

export class TimerQueue {
  readonly #heap: Slot[] = [];
  #seq = 0;

  schedule(at: number, fire: (now: number) => void): Timer {
    const timer: Timer = { at, fire };
    this.#push({ at, seq: this.#seq++, timer });
    return timer;
  }

  cancel(timer: Timer | null | undefined): void {
    if (timer) timer.fire = null;
  }

  /** Earliest live deadline, or null. Drops cancelled heads as it goes. */
  next(): number | null {
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined) return null;
      if (top.timer.fire !== null) return top.at;
      this.#pop();
    }
  }

  /** Fires every deadline ≤ now in order, including ones scheduled ≤ now by the callbacks, up to `max`. */
  runDue(now: number, max = 100_000): void {
    for (let i = 0; i < max; i++) {
      const at = this.next();
      if (at === null || at > now) return;
      const slot = this.#pop()!;
      const fire = slot.timer.fire;
      slot.timer.fire = null;
      fire?.(now);
    }
  }

  get size(): number {
    return this.#heap.length;
  }

  #push(s: Slot): void {
    const h = this.#heap;
    let i = h.length;
    h.push(s);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = h[p]!;
      if (!before(s, ps)) break;
      h[i] = ps;
      i = p;
    }
    h[i] = s;
  }

  #pop(): Slot | undefined {
    const h = this.#heap;
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
}

function before(a: Slot, b: Slot): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
