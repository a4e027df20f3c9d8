// A bounded inbox with async iteration and AbortSignal support (wire's BoundedFifo: past its
// bounds the oldest items are dropped and counted), and the waiters of relayReady / peers.ready
// (a timeout, a signal, the node's close).
import { BoundedFifo, type FifoBytes, SrmudpError } from '@srmudp/wire';

export function abortError(signal: AbortSignal): Error {
  const r = signal.reason;
  return r instanceof Error ? r : new DOMException(typeof r === 'string' ? r : 'aborted', 'AbortError');
}

export class Inbox<T> {
  readonly #items: BoundedFifo<T>;
  readonly #waiters: Array<{ resolve: (v: IteratorResult<T>) => void; reject: (e: unknown) => void }> = [];
  #ended = false;

  /** At most `maxItems` unread (and `bytes.maxBytes` of them): the oldest are dropped and counted. */
  constructor(maxItems: number, bytes: FifoBytes<T> | null = null) {
    this.#items = new BoundedFifo(maxItems, bytes);
  }

  /** Items dropped unread (the oldest, past a bound). */
  get dropped(): number {
    return this.#items.dropped;
  }

  push(item: T): void {
    if (this.#ended) return;
    const w = this.#waiters.shift();
    if (w) w.resolve({ value: item, done: false });
    else this.#items.push(item);
  }

  end(): void {
    this.#ended = true;
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  next(signal?: AbortSignal): Promise<IteratorResult<T>> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve({ value: item, done: false });
    if (this.#ended) return Promise.resolve({ value: undefined, done: true });
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
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
      this.#waiters.push(w);
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

/** One caller waiting for a value (relay greeted, peer connected); settled once. */
export interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/**
 * Adds a waiter to `list` (whoever has the value settles the list); it rejects with
 * `PEER_TIMEOUT` after `opts.timeout` ms (`why()` says what did not happen), with the signal's
 * reason when aborted, and with `NODE_CLOSED` at once when the node is `closed`.
 */
export function wait<T>(
  list: Waiter<T>[],
  opts: { signal?: AbortSignal; timeout?: number },
  why: () => string,
  closed: boolean,
): Promise<T> {
  if (closed) return Promise.reject(new SrmudpError('NODE_CLOSED', 'node closed'));
  if (opts.signal?.aborted) return Promise.reject(abortError(opts.signal));
  return new Promise<T>((resolve, reject) => {
    const done = () => {
      const i = list.indexOf(w);
      if (i >= 0) list.splice(i, 1);
      if (t) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
    };
    const w = {
      resolve: (v: T) => {
        done();
        resolve(v);
      },
      reject: (e: unknown) => {
        done();
        reject(e);
      },
    };
    const onAbort = () => w.reject(abortError(opts.signal as AbortSignal));
    const t =
      opts.timeout !== undefined
        ? setTimeout(
            () => w.reject(new SrmudpError('PEER_TIMEOUT', `${why()} within ${opts.timeout} ms`)),
            opts.timeout,
          )
        : null;
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    list.push(w);
  });
}
