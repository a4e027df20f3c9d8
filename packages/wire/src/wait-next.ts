/**
 * One rule for an API's `receive({ timeout, signal })` over an async queue (the Node façade's
 * message inbox and the browser node's): the next item, or null once `timeout` ms pass or the
 * queue ends; the caller's `signal` aborting rejects with the caller's abort error. Pure: the
 * timer comes from the caller (the driver's timers, or the platform's), as does the error type.
 */

/** Runs `fn` once after `ms` unless cancelled. */
export type AfterTimer = (ms: number, fn: () => void) => { cancel(): void };

/** What the queue's `next(signal)` needs of a signal: the runtime's AbortSignal fits. */
export interface WaitSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

declare const AbortController: new () => { readonly signal: WaitSignal; abort(reason?: unknown): void };

/**
 * `next(signal)` (an async queue's, rejecting when `signal` aborts), raced against `timeout` and
 * the caller's `signal`: the item, null on timeout or when the queue is done, `aborted(signal)`
 * thrown when the caller aborted. `after` null: no timeout (the timers are stopped).
 */
export async function waitNext<T, S extends WaitSignal>(
  next: (signal: S) => Promise<IteratorResult<T>>,
  opts: { timeout?: number; signal?: S },
  after: AfterTimer | null,
  aborted: (signal: S) => unknown,
): Promise<T | null> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    opts.timeout !== undefined && after !== null ? after(opts.timeout, () => ac.abort('timeout')) : null;
  try {
    const r = await next(ac.signal as S);
    return r.done ? null : r.value;
  } catch (e) {
    if (opts.signal?.aborted) throw aborted(opts.signal);
    if (ac.signal.aborted) return null;
    throw e;
  } finally {
    timer?.cancel();
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
