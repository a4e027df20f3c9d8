// A relay client's bindings: one per circuit we hold on the hop, with when it was bound and when it
// expires at the relay, whether it carried traffic since (only then is it refreshed: data alone
// never keeps a binding alive), and when to refresh or give it up.
import type { CircuitLimits } from './limits.js';

export interface Channel {
  readonly channel: number;
  readonly peer: Uint8Array;
  readonly role: 'requester' | 'target';
  readonly limits: CircuitLimits;
  boundAt: number;
  expiresAt: number;
  used: boolean;
  refreshing: boolean;
}

/**
 * A binding the relay did not close by its expiry is given up this much later: the relay is
 * authoritative and its CLOSE (with the typed reason: expired, duration_limit) normally arrives
 * first.
 */
export const EXPIRY_GRACE_MS = 2_000;

/** When a used binding is refreshed: two thirds into its lifetime. */
export function refreshAt(c: Channel): number {
  return c.boundAt + ((c.expiresAt - c.boundAt) * 2) / 3;
}
