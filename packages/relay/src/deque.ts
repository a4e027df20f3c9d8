/** A FIFO ring buffer: O(1) push, shift and peek, no per-operation allocation. */
export class Deque<T> {
  #buf: (T | undefined)[] = new Array(8);
  #head = 0;
  #size = 0;

  get length(): number {
    return this.#size;
  }

  push(item: T): void {
    if (this.#size === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#size) % this.#buf.length] = item;
    this.#size++;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#size--;
    return item;
  }

  peek(): T | undefined {
    return this.#size === 0 ? undefined : this.#buf[this.#head];
  }

  clear(): void {
    this.#buf = new Array(8);
    this.#head = 0;
    this.#size = 0;
  }

  #grow(): void {
    const next: (T | undefined)[] = new Array(this.#buf.length * 2);
    for (let i = 0; i < this.#size; i++) next[i] = this.#buf[(this.#head + i) % this.#buf.length];
    this.#buf = next;
    this.#head = 0;
  }
}
