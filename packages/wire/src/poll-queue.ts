/** the items of every drained queue: shared, never written (push replaces it first), so an idle
 * state machine's queue holds no array of its own (issue 19) */
const DRAINED: never[] = [];

/**
 * The output queue of a sans-IO state machine (`pollTransmit`, `pollEvent`): items leave in the
 * order they were pushed, taken from a head index (no `shift`, which copies the array), and the
 * array is reset once drained so it never grows past one burst.
 */
export class PollQueue<T> {
  private items: T[] = DRAINED;
  private head = 0;

  push(item: T): void {
    if (this.items === DRAINED) this.items = [];
    this.items.push(item);
  }

  /** The oldest item not yet taken, or null (the queue resets when drained). */
  take(): T | null {
    const items = this.items;
    if (this.head >= items.length) {
      if (this.head > 0) {
        this.items = DRAINED;
        this.head = 0;
      }
      return null;
    }
    return items[this.head++]!;
  }

  /** Items not yet taken. */
  get length(): number {
    return this.items.length - this.head;
  }

  clear(): void {
    this.items = DRAINED;
    this.head = 0;
  }
}
