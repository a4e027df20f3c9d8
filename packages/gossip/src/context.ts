/** What the per-topic parts (membership, broadcast tree) may use of their gossip instance. */
import type { GossipOptions } from './config.js';
import type { Connections } from './connections.js';
import type { GossipEvent } from './events.js';
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
