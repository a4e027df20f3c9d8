import { describe, expect, it } from 'vitest';
import { type AfterTimer, waitNext } from '../src/index.js';

/** A one-item-at-a-time source: `put` resolves a waiting next(), which rejects when its signal aborts. */
function source<T>() {
  let waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  const seen: AbortSignal[] = [];
  return {
    seen,
    next(signal: AbortSignal): Promise<IteratorResult<T>> {
      seen.push(signal);
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject };
        signal.addEventListener('abort', () => reject(new Error('source aborted')), { once: true });
      });
    },
    put(r: IteratorResult<T>) {
      waiter?.resolve(r);
    },
  };
}

/** Timers fired by hand; counts the live ones. */
function manualTimers() {
  const live = new Set<() => void>();
  const after: AfterTimer = (_ms, fn) => {
    live.add(fn);
    return { cancel: () => live.delete(fn) };
  };
  const fire = () => {
    for (const fn of [...live]) fn();
  };
  return { after, live, fire };
}

const aborted = (s: AbortSignal) => new Error(`caller aborted: ${String(s.reason)}`);

describe('waitNext', () => {
  it('resolves with the next item and cancels its timer', async () => {
    const src = source<string>();
    const t = manualTimers();
    const p = waitNext((s: AbortSignal) => src.next(s), { timeout: 1000 }, t.after, aborted);
    expect(t.live.size).toBe(1);
    src.put({ value: 'x', done: false });
    expect(await p).toBe('x');
    expect(t.live.size).toBe(0);
  });

  it('null once the timeout passes or the source is done', async () => {
    const src = source<string>();
    const t = manualTimers();
    const p = waitNext((s: AbortSignal) => src.next(s), { timeout: 5 }, t.after, aborted);
    t.fire();
    expect(await p).toBeNull();
    const q = waitNext((s: AbortSignal) => src.next(s), {}, t.after, aborted);
    expect(t.live.size).toBe(0); // no timeout asked: no timer
    src.put({ value: undefined, done: true });
    expect(await q).toBeNull();
  });

  it("the caller's abort rejects with the caller's error and aborts the source's wait", async () => {
    const src = source<string>();
    const ac = new AbortController();
    const p = waitNext((s: AbortSignal) => src.next(s), { signal: ac.signal }, null, aborted);
    ac.abort('stop');
    await expect(p).rejects.toThrow('caller aborted: stop');
    expect(src.seen[0]?.aborted).toBe(true);
  });

  it('a source failure that is no abort passes through', async () => {
    const boom = new Error('boom');
    await expect(waitNext(() => Promise.reject(boom), { timeout: 5 }, null, aborted)).rejects.toBe(boom);
  });
});
