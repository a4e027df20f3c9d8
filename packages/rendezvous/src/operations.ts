import type { RendezvousErrorCode } from './errors.js';
import { isRendezvousError, RendezvousError } from './errors.js';
import { linkSignals } from './sleep.js';

export interface RendezvousStats {
  published: number;
  publishFailures: number;
  resolves: number;
  rejected: Partial<Record<RendezvousErrorCode | 'OTHER', number>>;
}

/** Counts a rejected value or failed backend under its error code. */
export function countRejected(stats: RendezvousStats, error: unknown): void {
  const code = isRendezvousError(error) ? error.code : 'OTHER';
  stats.rejected[code] = (stats.rejected[code] ?? 0) + 1;
}

/**
 * The operations in flight of one Rendezvous and the close() that aborts them: one set of aborts,
 * not a listener per operation on a shared signal.
 */
export class Operations {
  readonly #ops = new Set<() => void>();
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  checkOpen(): void {
    if (this.#closed) throw new RendezvousError('CLOSED', 'Rendezvous is closed');
  }

  /** A signal for one operation: fires with the given signals, after `timeoutMs`, or on close(). */
  link(
    signals: readonly (AbortSignal | undefined)[],
    timeoutMs?: number,
  ): { signal: AbortSignal; dispose: () => void } {
    const closed = new AbortController();
    const abort = () => closed.abort(new RendezvousError('CLOSED', 'Rendezvous is closed'));
    if (this.#closed) abort();
    else this.#ops.add(abort);
    const link = linkSignals([...signals, closed.signal], timeoutMs);
    return {
      signal: link.signal,
      dispose: () => {
        this.#ops.delete(abort);
        link.dispose();
      },
    };
  }

  /** Marks closed and aborts every operation in flight. False when already closed. */
  close(): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    for (const abort of [...this.#ops]) abort();
    return true;
  }
}
