import { RendezvousError } from './errors.js';

/** Resolves after `ms`, or rejects with ABORTED when the signal fires. The timer never holds the process open. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new RendezvousError('ABORTED', 'operation aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new RendezvousError('ABORTED', 'operation aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    (timer as { unref?: () => void }).unref?.();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A signal that fires when any input fires or after `timeoutMs`; `dispose` clears the timer. */
export function linkSignals(
  signals: readonly (AbortSignal | undefined)[],
  timeoutMs?: number,
): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const cleanups: (() => void)[] = [];
  for (const s of signals) {
    if (s === undefined) continue;
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    const on = () => controller.abort(s.reason);
    s.addEventListener('abort', on, { once: true });
    cleanups.push(() => s.removeEventListener('abort', on));
  }
  if (timeoutMs !== undefined && !controller.signal.aborted) {
    const t = setTimeout(
      () => controller.abort(new RendezvousError('UNAVAILABLE', `timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    (t as { unref?: () => void }).unref?.();
    cleanups.push(() => clearTimeout(t));
  }
  return {
    signal: controller.signal,
    dispose: () => {
      for (const c of cleanups) c();
    },
  };
}
