/**
 * The one timer table of a gossip instance: @srmudp/wire's `TimerHeap` of deadlines with lazy
 * cancellation. Membership, broadcast tree, fetches and housekeeping all schedule here, so
 * `pollTimeout()` is one peek and `handleTimeout(now)` runs every due deadline in time order
 * (equal deadlines in the order they were scheduled).
 */
import { TimerHeap } from '@srmudp/wire';

export interface Timer {
  readonly at: number;
  /** null once cancelled or fired */
  fire: ((now: number) => void) | null;
}

export class TimerQueue {
  readonly #heap = new TimerHeap<Timer>();

  schedule(at: number, fire: (now: number) => void): Timer {
    const timer: Timer = { at, fire };
    this.#heap.push(at, timer);
    return timer;
  }

  cancel(timer: Timer | null | undefined): void {
    if (timer) timer.fire = null;
  }

  /** Earliest live deadline, or null. Drops cancelled heads as it goes. */
  next(): number | null {
    for (;;) {
      const top = this.#heap.peek();
      if (top === undefined) return null;
      if (top.item.fire !== null) return top.at;
      this.#heap.pop();
    }
  }

  /** Fires every deadline ≤ now in order, including ones scheduled ≤ now by the callbacks, up to `max`. */
  runDue(now: number, max = 100_000): void {
    for (let i = 0; i < max; i++) {
      const at = this.next();
      if (at === null || at > now) return;
      const timer = this.#heap.pop()!.item;
      const fire = timer.fire;
      timer.fire = null;
      fire?.(now);
    }
  }

  get size(): number {
    return this.#heap.size;
  }
}
