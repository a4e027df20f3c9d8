// Who may connect to this node, one rule: core's accept policy (every incoming handshake, before it
// completes) and, through layer-config.ts, which peers this node relays for as a gate. Refused: any
// peer while the node closes; a peer removed on purpose (named-peers.ts, under either form of its
// id); a peer outside `options.allow`. Then: anyone while `acceptUnknown` is on or an open group
// accepts newcomers, else only the named peers.

import { parsePeerId } from '@srmudp/crypto';
import { toHex } from '@srmudp/wire';
import type { NamedPeers } from './named-peers.js';

/** What the policy reads from the node, at each handshake. */
export interface AcceptHost {
  readonly closing: boolean;
  /** `options.acceptUnknown` */
  readonly acceptUnknown: boolean;
  /** an open group accepts newcomers (group.ts) */
  readonly groupAccepting: boolean;
  readonly named: NamedPeers;
}

export class AcceptPolicy {
  /** `options.allow` as key hex (compared byte for byte: the other form of an id is refused), or null */
  readonly #allow: ReadonlySet<string> | null;

  /** `allow`: peer ids in text form (a malformed one throws INVALID_PEER_ID), or undefined: anyone */
  constructor(
    private readonly host: AcceptHost,
    allow: readonly string[] | undefined,
  ) {
    this.#allow = allow === undefined ? null : new Set(allow.map((t) => toHex(parsePeerId(t))));
  }

  /** Whether the peer `key` may connect to this node (or use it as a gate). */
  accepts(key: Uint8Array): boolean {
    const h = this.host;
    if (h.closing || h.named.isRemoved(key)) return false;
    const hex = toHex(key);
    if (this.#allow !== null && !this.#allow.has(hex)) return false;
    if (h.acceptUnknown || h.groupAccepting) return true;
    return h.named.hasKey(hex);
  }
}
