/** What the per-topic parts (membership, broadcast tree) may use of their gossip instance. */
import type { BroadcastTree } from './broadcast-tree.js';
import type { GossipOptions } from './config.js';
import type { Connections } from './connections.js';
import type { GossipEvent } from './events.js';
import type { Membership } from './membership.js';
import type { RandomSource } from './random.js';
import type { TimerQueue } from './timers.js';

export interface Context {
  readonly options: GossipOptions;
  readonly self: Uint8Array;
  readonly selfKey: string;
  readonly random: RandomSource;
  readonly timers: TimerQueue;
  readonly conns: Connections;
  /** our current signed record */
  record(): Uint8Array;
  /** queues an encoded frame to an up connection (dropped if the connection is gone) */
  send(peerKey: string, bytes: Uint8Array): void;
  emit(event: GossipEvent): void;
  isBanned(peerKey: string, now: number): boolean;
}

/** One topic of a gossip instance: its HyParView membership and its Plumtree tree. */
export interface Topic {
  readonly topic: Uint8Array;
  readonly key: string;
  readonly membership: Membership;
  readonly tree: BroadcastTree;
}
