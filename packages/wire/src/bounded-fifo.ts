/**
 * What the façades hold for an application that may read slowly or not at all: at most
 * {@link MAX_UNREAD_MESSAGES} messages and {@link MAX_UNREAD_MESSAGE_BYTES} of them (srmudp's
 * `receive()`, `conn.messages()`, `group.messages()`; the browser node's `receive()`). Four
 * messages of the largest size (16 MiB) fit. Past either bound the oldest are dropped and counted:
 * a peer that sends faster than the application reads cannot make the node hold what it sends.
 */
export const MAX_UNREAD_MESSAGES = 65_536;
export const MAX_UNREAD_MESSAGE_BYTES = 64 * 1024 * 1024;

/** A {@link BoundedFifo}'s bound in bytes: what an item weighs, and how much it may hold. */
export interface FifoBytes<T> {
  readonly maxBytes: number;
  readonly sizeOf: (item: T) => number;
}

/** The byte bound of a queue of unread messages: {@link MAX_UNREAD_MESSAGE_BYTES} of their `data`. */
export function unreadMessageBytes<T>(data: (item: T) => Uint8Array): FifoBytes<T> {
  return { maxBytes: MAX_UNREAD_MESSAGE_BYTES, sizeOf: (m) => data(m).byteLength };
}

/**
 * A FIFO bounded in count and, optionally, in bytes: past either bound the oldest items are
 * dropped and counted, never the one just pushed. Items are taken from a head index (no `shift`,
 * which copies the array) and the array is compacted once its taken front outweighs the rest, so
 * what it holds is what it bounds. The store under the façades' async queues.
 */
export class BoundedFifo<T> {
  #items: Array<T | undefined> = [];
  #head = 0;
  #bytes = 0;
  #dropped = 0;

  constructor(
    readonly maxItems: number,
    readonly bytes: FifoBytes<T> | null = null,
  ) {}

  /** Items held. */
  get size(): number {
    return this.#items.length - this.#head;
  }

  /** What the held items weigh (0 without a byte bound). */
  get byteSize(): number {
    return this.#bytes;
  }

  /** Items dropped unread (the oldest, past a bound). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Slots of the backing array (the held items and at most the compaction slack). */
  get slots(): number {
    return this.#items.length;
  }

  push(item: T): void {
    if (this.size >= this.maxItems) this.#drop();
    this.#items.push(item);
    if (this.bytes === null) return;
    this.#bytes += this.bytes.sizeOf(item);
    while (this.#bytes > this.bytes.maxBytes && this.size > 1) this.#drop();
  }

  /** Takes the oldest item, or undefined. */
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined;
    this.#head++;
    if (this.bytes !== null) this.#bytes -= this.bytes.sizeOf(item);
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** Removes a held item; false when it is not there. O(size). */
  remove(item: T): boolean {
    const i = this.#items.indexOf(item, this.#head);
    if (i < 0) return false;
    this.#items.splice(i, 1);
    if (this.bytes !== null) this.#bytes -= this.bytes.sizeOf(item);
    return true;
  }

  #drop(): void {
    this.shift();
    this.#dropped++;
  }
}
