/**
 * The façade's own deadlines (named-peer redials, dial pacing, interface polling, receive
 * timeouts, name resolution bounds), which the driver runs beside core's and the NAT
 * session's `pollTimeout()`, so the node needs one OS timer in all (DESIGN.md §1). Pure data:
 * time comes in as `now`; nothing here touches a clock or a timer.
 */

/** A scheduled callback; `cancel()` is idempotent. */
export interface Timer {
  cancel(): void;
}

interface Entry extends Timer {
  readonly at: number;
  fn: (() => void) | null;
}

/**
 * Deadlines in a sorted array (binary-search insert): a node holds a few of them (one per named
 * peer waiting to redial, the pacer, the interface poll, receive() calls waiting), so a heap would
 * buy nothing. Cancelled entries are skipped at the front and compacted when they dominate.
 */
export class TimerQueue {
  #list: Entry[] = [];
  #head = 0;
  #live = 0;

  /** Live (not cancelled, not fired) timers. */
  get size(): number {
    return this.#live;
  }

  /** Entries held, cancelled ones not yet dropped included: at most about 2 × size + 64. */
  get held(): number {
    return this.#list.length - this.#head;
  }

  /** Schedules `fn` at `at` (ms, the driver's clock). Same deadline: first scheduled, first run. */
  add(at: number, fn: () => void): Timer {
    if (!Number.isFinite(at)) throw new TypeError(`"at" expected a finite number, got ${String(at)}`);
    if (typeof fn !== 'function') throw new TypeError(`"fn" expected a function, got ${typeof fn}`);
    const e: Entry = {
      at,
      fn,
      cancel: () => {
        if (e.fn === null) return;
        e.fn = null;
        this.#live--;
        // an application calling receive({ timeout: 60_000 }) in a loop must not grow the list
        if (this.#list.length > 64 && this.#list.length - this.#head > 2 * this.#live) this.#compact();
      },
    };
    this.#live++;
    // after every entry with at <= e.at (equal deadlines keep their order)
    let lo = this.#head;
    let hi = this.#list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#list[mid] as Entry).at <= at) lo = mid + 1;
      else hi = mid;
    }
    this.#list.splice(lo, 0, e);
    return e;
  }

  /** The earliest live deadline, or null. */
  next(): number | null {
    this.#skip();
    return this.#list[this.#head]?.at ?? null;
  }

  /**
   * Removes and returns the callbacks due at `now`, in deadline order. The caller runs them (a
   * callback may add timers: they run on a later call, even when already due).
   */
  due(now: number): (() => void)[] {
    const out: (() => void)[] = [];
    for (;;) {
      this.#skip();
      const top = this.#list[this.#head];
      if (top === undefined || top.at > now) break;
      this.#head++;
      out.push(top.fn as () => void);
      top.fn = null;
      this.#live--;
    }
    if (this.#head > 64 && this.#head * 2 > this.#list.length) this.#compact();
    return out;
  }

  /** Cancels everything. */
  clear(): void {
    for (const e of this.#list) e.fn = null;
    this.#list = [];
    this.#head = 0;
    this.#live = 0;
  }

  #skip(): void {
    while (this.#head < this.#list.length && (this.#list[this.#head] as Entry).fn === null) this.#head++;
  }

  #compact(): void {
    this.#list = this.#list.slice(this.#head).filter((e) => e.fn !== null);
    this.#head = 0;
  }
}
