import type { Opened } from './channel-events.js';
import type { SecureChannel } from './secure-channel.js';
import type { DropReason } from './stats.js';

/**
 * A data packet opened: what {@link SecureEndpoint.handle} returns for it, and the same object
 * from {@link SecureChannel.open} (typed there as its {@link Opened} part). One object per packet,
 * not an `Opened` copied into a result (issue 19).
 */
export interface DataResult extends Opened {
  type: 'data';
  channel: SecureChannel;
}

/** What {@link SecureEndpoint.handle} did with a datagram. */
export type HandleResult = DataResult | { type: 'handshake' } | { type: 'dropped'; reason: DropReason };

/** @internal */
export const HANDSHAKE_RESULT: HandleResult = { type: 'handshake' };
const DROPS = new Map<DropReason, HandleResult>();

/** @internal The (shared, frozen in use) result for a datagram dropped for `reason`. */
export function dropped(reason: DropReason): HandleResult {
  let r = DROPS.get(reason);
  if (!r) {
    r = { type: 'dropped', reason };
    DROPS.set(reason, r);
  }
  return r;
}
