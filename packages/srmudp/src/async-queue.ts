import { BoundedFifo, type FifoBytes, MAX_UNREAD_MESSAGES, type SrmudpError } from '@srmudp/wire';
import { NodeError } from './errors.js';

/**
 * A bounded FIFO with async consumers: `push` from the driver loop, `next()`/`for await` from
 * the app. When full (`capacity` items, or more than `bytes.maxBytes` unread), the oldest items
 * are dropped and counted, never the one just pushed (wire's {@link BoundedFifo}: the driver never
 * blocks on a slow consumer; reliable data has its own flow control below this). `end()` finishes
 * iteration.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: BoundedFifo<T>;
  private readonly waiters: Array<{ resolve: (v: IteratorResult<T>) => void; reject: (e: unknown) => void }> =
    [];
  private ended = false;
  private endError: unknown = undefined;

  constructor(capacity: number = MAX_UNREAD_MESSAGES, bytes: FifoBytes<T> | null = null) {
    this.items = new BoundedFifo(capacity, bytes);
  }

  get size(): number {
    return this.items.size;
  }

  /** What the unread items weigh (0 without a byte bound). */
  get byteSize(): number {
    return this.items.byteSize;
  }

  /** Items dropped unread (the oldest, past a bound). */
  get dropped(): number {
    return this.items.dropped;
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
    this.items.push(item);
  }

  /** Removes a buffered item (not yet taken); false when it is not there. O(size). */
  remove(item: T): boolean {
    return this.items.remove(item);
  }

  /** Takes an item now, or undefined. */
  shift(): T | undefined {
    return this.items.shift();
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
