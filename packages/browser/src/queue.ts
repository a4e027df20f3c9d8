// An unbounded-by-count, bounded-by-caller inbox with async iteration and AbortSignal support.

export function abortError(signal: AbortSignal): Error {
  const r = signal.reason;
  return r instanceof Error ? r : new DOMException(typeof r === 'string' ? r : 'aborted', 'AbortError');
}

export class Inbox<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ resolve: (v: IteratorResult<T>) => void; reject: (e: unknown) => void }> =
    [];
  private ended = false;

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) w.resolve({ value: item, done: false });
    else this.items.push(item);
  }

  shift(): T | undefined {
    return this.items.shift();
  }

  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  next(signal?: AbortSignal): Promise<IteratorResult<T>> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(signal as AbortSignal));
      };
      const w = {
        resolve: (v: IteratorResult<T>) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  iterate(signal?: AbortSignal): AsyncIterableIterator<T> {
    const it: AsyncIterableIterator<T> = {
      next: () => this.next(signal),
      return: async () => ({ value: undefined, done: true }),
      [Symbol.asyncIterator]: () => it,
    };
    return it;
  }
}
