/**
 * The relay's deadlines: @srmudp/wire's `TimerHeap` with lazy deletion. A deadline that moved or
 * whose owner went away stays in the heap and is skipped when it reaches the top (`live` says
 * whether it still counts). The relay pushes an entry when a deadline is set, never per data
 * packet.
 */
import { type HeapEntry, TimerHeap } from '@srmudp/wire';

export class LiveTimerHeap<T> {
  readonly #heap = new TimerHeap<T>();
  readonly #live: (entry: HeapEntry<T>) => boolean;

  constructor(live: (entry: HeapEntry<T>) => boolean) {
    this.#live = live;
  }

  get size(): number {
    return this.#heap.size;
  }

  push(at: number, item: T): void {
    this.#heap.push(at, item);
  }

  /** Earliest live deadline, or null (stale entries on top are discarded). */
  peek(): number | null {
    for (let e = this.#heap.peek(); e !== undefined; e = this.#heap.peek()) {
      if (this.#live(e)) return e.at;
      this.#heap.pop();
    }
    return null;
  }

  /** The next live entry due at or before `now`, removed from the heap; null when none. */
  popDue(now: number): HeapEntry<T> | null {
    const at = this.peek();
    if (at === null || at > now) return null;
    return this.#heap.pop() ?? null;
  }

  clear(): void {
    this.#heap.clear();
  }
}
