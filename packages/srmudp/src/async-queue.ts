import type { SrmudpError } from '@srmudp/wire';
import { NodeError } from './errors.js';

/**
 * A bounded FIFO with async consumers: `push` from the driver loop, `next()`/`for await` from
 * the app. When full, the oldest item is dropped and counted (the driver never blocks on a slow
 * consumer; reliable data has its own flow control below this). `end()` finishes iteration.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private head = 0;
  private readonly waiters: Array<{ resolve: (v: IteratorResult<T>) => void; reject: (e: unknown) => void }> =
    [];
  private ended = false;
  private endError: unknown = undefined;
  dropped = 0;

  constructor(private readonly capacity = 65_536) {}

  get size(): number {
    return this.items.length - this.head;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  push(item: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) {
      w.resolve({ value: item, done: false });
      return;
    }
    if (this.size >= this.capacity) {
      // drop the oldest: shift() also releases its slot and compacts the array (a consumer that
      // never reads must not make the queue, and what it holds, grow without bound)
      this.shift();
      this.dropped++;
    }
    this.items.push(item);
  }

  /** Removes a buffered item (not yet taken); false when it is not there. O(size). */
  remove(item: T): boolean {
    const i = this.items.indexOf(item, this.head);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }

  /** Takes an item now, or undefined. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined as T;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return item;
  }

  /** Ends iteration for every consumer (after the buffered items), optionally with an error. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.endError = error;
    for (const w of this.waiters.splice(0)) {
      if (error !== undefined) w.reject(error);
      else w.resolve({ value: undefined, done: true });
    }
  }

  /** Resolves with the next item; `done` when ended. Rejects with ABORTED on abort. */
  next(signal?: AbortSignal): Promise<IteratorResult<T>> {
    const item = this.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.ended) {
      return this.endError !== undefined
        ? Promise.reject(this.endError)
        : Promise.resolve({ value: undefined, done: true });
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (v: IteratorResult<T>) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal as AbortSignal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  iterate(signal?: AbortSignal): AsyncIterableIterator<T> {
    return {
      next: () => this.next(signal),
      return: () => Promise.resolve({ value: undefined, done: true }),
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this.iterate();
  }
}

export function abortError(signal: AbortSignal): SrmudpError {
  return new NodeError('ABORTED', 'the operation was aborted', { cause: signal.reason });
}
