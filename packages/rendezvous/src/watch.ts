// Following a peer's record over time: push backends through their watch(), the others by
// polling with jitter and backoff, every newer record yielded once.
import { isRendezvousError } from './errors.js';
import type { Operations } from './operations.js';
import type { ResolvedTarget, ResolveResult, Resolver } from './resolver.js';
import { sleep } from './sleep.js';

export interface WatchOptions {
  readonly signal?: AbortSignal;
  /** Poll interval on backends without push, ms. Default 30 000. */
  readonly intervalMs?: number;
  /** Upper bound of the backoff after failures, ms. Default 300 000. */
  readonly maxIntervalMs?: number;
}

export interface WatchContext {
  readonly resolver: Resolver;
  /** One full resolve (Rendezvous.resolve) for a poll. */
  readonly resolve: (t: ResolvedTarget, options: { signal: AbortSignal }) => Promise<ResolveResult | null>;
  readonly random: () => number;
  readonly ops: Operations;
}

export async function* watchRecords(
  ctx: WatchContext,
  t: ResolvedTarget,
  options: WatchOptions,
): AsyncGenerator<ResolveResult, void, undefined> {
  const { resolver } = ctx;
  const interval = options.intervalMs ?? 30_000;
  const maxInterval = Math.max(interval, options.maxIntervalMs ?? 300_000);
  const stop = new AbortController();
  const link = ctx.ops.link([options.signal, stop.signal]);
  const signal = link.signal;
  const queue: ResolveResult[] = [];
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  signal.addEventListener('abort', notify, { once: true });
  let lastSeq = -1;
  const offer = (r: ResolveResult) => {
    if (r.record.seq > lastSeq) {
      lastSeq = r.record.seq;
      queue.push(r);
      notify();
    }
  };
  const pollOnce = async (): Promise<boolean> => {
    try {
      const r = await ctx.resolve(t, { signal });
      if (r !== null) offer(r);
      return true;
    } catch (error) {
      return isRendezvousError(error, 'STALE_RECORD');
    }
  };
  const pushSources = resolver
    .sources(t)
    .filter((s) => s.backend.capabilities.watch !== 'none' && s.backend.watch);
  const loops: Promise<void>[] = [];
  for (const { backend, locator } of pushSources) {
    loops.push(
      (async () => {
        try {
          const it = backend.watch?.({ peerId: t.peerId, locator }, { signal });
          if (it === undefined) return;
          for await (const bytes of it) {
            try {
              const d = resolver.accept(bytes, t.peerId);
              offer({ record: d.record, bytes: d.bytes, source: backend.name, rejected: [] });
            } catch (error) {
              resolver.count(error);
            }
          }
        } catch (error) {
          if (!signal.aborted) resolver.count(error);
        }
      })(),
    );
  }
  loops.push(
    (async () => {
      let delay = interval;
      while (!signal.aborted) {
        const ok = await pollOnce();
        delay = ok ? interval : Math.min(maxInterval, delay * 2);
        const jittered = delay * (0.8 + 0.4 * ctx.random());
        try {
          await sleep(jittered, signal);
        } catch {
          return;
        }
      }
    })(),
  );
  try {
    while (true) {
      const next = queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (signal.aborted) return;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    // The consumer may have stopped early (break): stop the loops before returning.
    stop.abort();
    link.dispose();
    await Promise.allSettled(loops);
  }
}
