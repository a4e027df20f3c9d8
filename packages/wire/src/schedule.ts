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

export class Schedule<T extends Schedulable> {
  // The heap as two parallel arrays (an item and its deadline at the same position) and a map from
  // item to position: no entry object and boxed deadline per item (about 60 bytes per item, and
  // core and crypto schedule every connection, issue 19). The deadlines array holds unboxed doubles.
  private readonly heapItems: T[] = [];
  private readonly heapAt: number[] = [];
  /** an item's position in the heap */
  private readonly entries = new Map<T, number>();
  private readonly dirty = new Set<T>();
  /** null for an owner that never asks `pollTransmit` (see the constructor) */
  private readonly ready: Set<T> | null;
  private allDirty = false;

  /**
   * `transmit: false` for an owner that only needs the timers (crypto's channels): it never asks
   * `pollTransmit`, so a ready set would only ever grow, by every item it holds (issue 19).
   */
  constructor(options: { readonly transmit?: boolean } = {}) {
    this.ready = options.transmit === false ? null : new Set<T>();
  }

  /** A connection enters the schedule (established): dirty and ready at once. */
  add(item: T): void {
    if (this.entries.has(item)) return;
    this.entries.set(item, this.heapItems.length);
    this.heapItems.push(item);
    this.heapAt.push(Number.POSITIVE_INFINITY);
    this.touch(item);
  }

  /** The connection is gone. */
  remove(item: T): void {
    const i = this.entries.get(item);
    if (i === undefined) return;
    this.entries.delete(item);
    this.dirty.delete(item);
    this.ready?.delete(item);
    const last = this.heapItems.pop() as T;
    const lastAt = this.heapAt.pop() as number;
    if (last !== item) {
      this.heapItems[i] = last;
      this.heapAt[i] = lastAt;
      this.entries.set(last, i);
      this.fix(i);
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
    if (this.ready === null) return;
    this.ready.add(item);
    if (item === this.polling) this.retouched = true;
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
    return this.heapAt.length === 0 ? Number.POSITIVE_INFINITY : (this.heapAt[0] as number);
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
    const at = this.heapAt;
    while (at.length > 0 && (at[0] as number) <= now) {
      const item = this.heapItems[0] as T;
      out.push(item);
      // parked at +Inf until recomputed (it is dirty now)
      at[0] = Number.POSITIVE_INFINITY;
      this.down(0);
      this.dirty.add(item);
      this.ready?.add(item);
    }
    return out;
  }

  /** the item `pollTransmit` is asking, and whether it was touched meanwhile */
  private polling: T | null = null;
  private retouched = false;

  /**
   * The next datagram of the ready items, round robin: `poll` asks one item; an item that gave
   * nothing leaves the ready set, one that gave a datagram goes to the back of the line. A
   * sole ready item stays where it is: taking it out and back in on every datagram made the
   * set reallocate its table each time (about 100 bytes per datagram, issue 19).
   */
  pollTransmit<R>(now: number, poll: (item: T, now: number) => R | null): R | null {
    // no recomputation here (that would be one per datagram): a dirty item's new deadline counts
    // from the next nextTimeout()/due(), which the caller's loop asks for between its turns
    if (this.heapAt.length > 0 && (this.heapAt[0] as number) <= now) this.popDue(now);
    const ready = this.ready;
    if (ready === null) throw new TypeError('pollTransmit on a Schedule made with transmit: false');
    for (const item of ready) {
      this.polling = item;
      this.retouched = false;
      let r: R | null;
      try {
        r = poll(item, now);
      } catch (e) {
        // as if it had given nothing: not asked again until something touches it
        this.polling = null;
        ready.delete(item);
        throw e;
      }
      this.polling = null;
      // removed while it built (remove() took it out of every set)
      if (!this.entries.has(item)) {
        if (r !== null) return r;
        continue;
      }
      // building a packet arms timers (loss detection, keepalive): recompute its deadline
      this.dirty.add(item);
      if (r !== null) {
        // to the back of the line
        if (ready.size > 1) {
          ready.delete(item);
          ready.add(item);
        }
        return r;
      }
      ready.delete(item);
      // touched while it built (a drain that ends in CLOSE): back in line, asked again
      if (this.retouched) ready.add(item);
    }
    return null;
  }

  /** Recomputes the deadlines of the dirty items. */
  private flush(): void {
    if (this.allDirty) {
      this.allDirty = false;
      this.dirty.clear();
      // positions move as deadlines are fixed: each is read when its item's turn comes
      for (const item of this.entries.keys()) this.recompute(item);
      return;
    }
    if (this.dirty.size === 0) return;
    for (const item of this.dirty) this.recompute(item);
    this.dirty.clear();
  }

  private recompute(item: T): void {
    const i = this.entries.get(item);
    if (i === undefined) return;
    const at = item.pollTimeout() ?? Number.POSITIVE_INFINITY;
    if (at === this.heapAt[i]) return;
    this.heapAt[i] = at;
    this.fix(i);
  }

  /** Restores the heap order around position `i`, whose deadline changed. */
  private fix(i: number): void {
    if (!this.up(i)) this.down(i);
  }

  private up(start: number): boolean {
    const items = this.heapItems;
    const heapAt = this.heapAt;
    const item = items[start] as T;
    const at = heapAt[start] as number;
    let i = start;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((heapAt[p] as number) <= at) break;
      this.place(i, items[p] as T, heapAt[p] as number);
      i = p;
    }
    if (i === start) return false;
    this.place(i, item, at);
    return true;
  }

  private down(start: number): void {
    const items = this.heapItems;
    const heapAt = this.heapAt;
    const n = items.length;
    const item = items[start] as T;
    const at = heapAt[start] as number;
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      if (r < n && (heapAt[r] as number) < (heapAt[l] as number)) c = r;
      if ((heapAt[c] as number) >= at) break;
      this.place(i, items[c] as T, heapAt[c] as number);
      i = c;
    }
    if (i !== start) this.place(i, item, at);
  }

  private place(i: number, item: T, at: number): void {
    this.heapItems[i] = item;
    this.heapAt[i] = at;
    this.entries.set(item, i);
  }
}
