/**
 * Which of many timer-driven state machines (core's connections, crypto's channels) need their
 * owner's attention, so that an idle one costs nothing between its timers (issue 19): the owner's
 * `pollTimeout`, `handleTimeout` and `pollTransmit` visit only the items something happened to,
 * never all of them.
 *
 * - A **timer heap** (binary min-heap, indexed so a deadline moves in O(log n): a busy item's
 *   deadline moves on every turn of its owner, which with TimerHeap's lazy deletion would pile up
 *   stale entries) holds each item's earliest deadline as last computed.
 * - A **dirty set**: items touched since their deadline was computed (a packet arrived, the
 *   application wrote, a timer was handled, a packet was built). Their deadline is recomputed,
 *   once per item, the next time the earliest deadline is asked for.
 * - A **ready set**, in round-robin order: items that may have a datagram to send. A touched item
 *   joins it; one whose poll returned null leaves it until it is touched again or its timer falls
 *   due (pacing, loss detection and keepalive deadlines are timers).
 *
 * The item side of the contract: every call that can change what an item would send or when its
 * next timer falls due touches it. Pure data, no clock: `now` comes in as an argument.
 */

/** What the schedule needs from a connection. */
export interface Schedulable {
  pollTimeout(): number | null;
}

interface Entry<T> {
  readonly item: T;
  at: number;
  /** position in the heap array */
  index: number;
}

export class Schedule<T extends Schedulable> {
  private readonly heap: Entry<T>[] = [];
  private readonly entries = new Map<T, Entry<T>>();
  private readonly dirty = new Set<T>();
  private readonly ready = new Set<T>();
  private allDirty = false;

  /** A connection enters the schedule (established): dirty and ready at once. */
  add(item: T): void {
    if (this.entries.has(item)) return;
    const e: Entry<T> = { item, at: Number.POSITIVE_INFINITY, index: this.heap.length };
    this.heap.push(e);
    this.entries.set(item, e);
    this.touch(item);
  }

  /** The connection is gone. */
  remove(item: T): void {
    const e = this.entries.get(item);
    if (e === undefined) return;
    this.entries.delete(item);
    this.dirty.delete(item);
    this.ready.delete(item);
    const last = this.heap.pop() as Entry<T>;
    if (last !== e) {
      last.index = e.index;
      this.heap[e.index] = last;
      this.fix(last);
    }
  }

  has(item: T): boolean {
    return this.entries.has(item);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Something happened to `item`: its deadline may have moved and it may have something to send. */
  touch(item: T): void {
    if (!this.entries.has(item)) return;
    this.dirty.add(item);
    this.ready.add(item);
  }

  /** Only `item`'s deadline may have moved (an owner that does not poll its items for output). */
  touchTimer(item: T): void {
    if (this.entries.has(item)) this.dirty.add(item);
  }

  /** Every item's deadline may have moved (rare events that may reach any item): recomputed once. */
  touchAllTimers(): void {
    this.allDirty = true;
  }

  /** The items in the schedule (a copy: handling one may remove it). */
  items(): T[] {
    return [...this.entries.keys()];
  }

  /** The earliest deadline of any item, or +Inf. */
  nextTimeout(): number {
    this.flush();
    return this.heap.length === 0 ? Number.POSITIVE_INFINITY : (this.heap[0] as Entry<T>).at;
  }

  /**
   * The items whose deadline is at or before `now`, earliest first. They are dirty and ready
   * afterwards (the caller handles their timeout, which moves the deadline).
   */
  due(now: number): T[] {
    this.flush();
    return this.popDue(now);
  }

  /** The due items by their deadlines as last computed (dirty ones are recomputed later). */
  private popDue(now: number): T[] {
    const out: T[] = [];
    const heap = this.heap;
    while (heap.length > 0 && (heap[0] as Entry<T>).at <= now) {
      const e = heap[0] as Entry<T>;
      out.push(e.item);
      // parked at +Inf until recomputed (it is dirty now)
      e.at = Number.POSITIVE_INFINITY;
      this.down(e);
      this.dirty.add(e.item);
      this.ready.add(e.item);
    }
    return out;
  }

  /**
   * The next datagram of the ready items, round robin: `poll` asks one item; an item that gave
   * nothing leaves the ready set, one that gave a datagram goes to the back of the line.
   */
  pollTransmit<R>(now: number, poll: (item: T) => R | null): R | null {
    // no recomputation here (that would be one per datagram): a dirty item's new deadline counts
    // from the next nextTimeout()/due(), which the caller's loop asks for between its turns
    if (this.heap.length > 0 && (this.heap[0] as Entry<T>).at <= now) this.popDue(now);
    const ready = this.ready;
    for (const item of ready) {
      // out first: a touch while it builds (a drain that ends in CLOSE) puts it back in line
      ready.delete(item);
      const r = poll(item);
      if (this.entries.has(item)) {
        // building a packet arms timers (loss detection, keepalive): recompute its deadline
        this.dirty.add(item);
        if (r !== null) ready.add(item);
      }
      if (r !== null) return r;
    }
    return null;
  }

  /** Recomputes the deadlines of the dirty items. */
  private flush(): void {
    if (this.allDirty) {
      this.allDirty = false;
      this.dirty.clear();
      for (const e of this.entries.values()) this.recompute(e);
      return;
    }
    if (this.dirty.size === 0) return;
    for (const item of this.dirty) {
      const e = this.entries.get(item);
      if (e !== undefined) this.recompute(e);
    }
    this.dirty.clear();
  }

  private recompute(e: Entry<T>): void {
    const at = e.item.pollTimeout() ?? Number.POSITIVE_INFINITY;
    if (at === e.at) return;
    e.at = at;
    this.fix(e);
  }

  private fix(e: Entry<T>): void {
    if (!this.up(e)) this.down(e);
  }

  private up(e: Entry<T>): boolean {
    const heap = this.heap;
    let i = e.index;
    const start = i;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = heap[p] as Entry<T>;
      if (parent.at <= e.at) break;
      heap[i] = parent;
      parent.index = i;
      i = p;
    }
    heap[i] = e;
    e.index = i;
    return i !== start;
  }

  private down(e: Entry<T>): void {
    const heap = this.heap;
    const n = heap.length;
    let i = e.index;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (heap[r] as Entry<T>).at < (heap[l] as Entry<T>).at) c = r;
      const child = heap[c] as Entry<T>;
      if (child.at >= e.at) break;
      heap[i] = child;
      child.index = i;
      i = c;
    }
    heap[i] = e;
    e.index = i;
  }
}
