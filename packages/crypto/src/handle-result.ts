import type { SecureChannel } from './secure-channel.js';
import type { DropReason } from './stats.js';

/** What {@link SecureEndpoint.handle} did with a datagram. */
export type HandleResult =
  | {
      type: 'data';
      channel: SecureChannel;
      packetNumber: number;
      plaintext: Uint8Array;
      /**
       * the first packet opened under its session: a peer that continues a connection across a
       * new session numbers on from its packets under the older ones (packet numbers are the
       * connection's), so one numbered at or below them starts a new connection (core checks)
       */
      firstOfSession: boolean;
    }
  | { type: 'handshake' }
  | { type: 'dropped'; reason: DropReason };

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
