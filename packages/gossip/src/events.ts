/** What a gossip instance tells its host (drained with `pollEvent()`), and its counters. */
import { FRAME_TYPE, type FrameTypeName } from './codec.js';

/** Why a neighbour was penalised (and disconnected and banned). */
export type PenaltyReason =
  /** bytes that do not decode as a v1 frame */
  | 'MALFORMED'
  /** a message whose origin signature does not verify */
  | 'FORGED'
  /** a message far outside the replay window, or duplicates it was told to stop sending */
  | 'REPLAYED'
  /** its own messages far above the per-origin rate limit */
  | 'FLOODING'
  /** a blob whose bytes do not match the announced hash or size */
  | 'BAD_BLOB';

/** Why a connection is no longer wanted. */
export type DropCause =
  /** no topic needs it any more (after a rejected request, an eviction, a disconnect, a leave) */
  | 'unneeded'
  | 'penalised'
  /** the dial or the neighbour request did not complete within `neighbourTimeoutMs` */
  | 'timeout'
  /** an incoming connection beyond the connection budget */
  | 'busy';

export type GossipEvent =
  /** a broadcast message, verified, delivered once */
  | {
      type: 'delivered';
      topic: Uint8Array;
      id: Uint8Array;
      origin: Uint8Array;
      data: Uint8Array;
      /** hops from the origin (1 = from the origin itself) */
      hops: number;
      /** origin's wall clock at broadcast (ms since the epoch) */
      issuedAt: number;
      /** the neighbour it came from */
      from: Uint8Array;
    }
  /**
   * Open a connection to `peer` (dial `record`; if that fails, connect via `introducer`, a member
   * that knows the peer) and call `neighbourUp` when it is established or `neighbourDown` when
   * it failed. If a connection already exists, call `neighbourUp` at once.
   */
  | { type: 'neighbour_wanted'; peer: Uint8Array; record: Uint8Array; introducer: Uint8Array | null }
  /** gossip no longer needs this connection: close it gracefully after the queued transmits */
  | { type: 'neighbour_dropped'; peer: Uint8Array; cause: DropCause }
  | { type: 'penalised'; peer: Uint8Array; reason: PenaltyReason; detail: string }
  /**
   * Fetch the blob `hash` (`size` bytes) from `peer` (over a stream; that peer's host serves it
   * with `blob(hash)`), then call `handleFetchResult(now, requestId, bytes | null)`.
   */
  | { type: 'fetch'; requestId: number; peer: Uint8Array; hash: Uint8Array; size: number }
  /** a topic's active view changed (for a members() view in the host) */
  | { type: 'view_changed'; topic: Uint8Array; peer: Uint8Array; added: boolean };

export const DROP_REASONS = [
  'malformed',
  'unsupported_version',
  'unknown_topic',
  'not_neighbour',
  'banned',
  'stale',
  'future',
  'bad_signature',
  'rate_limited',
  'own_message',
  'blob_too_large',
  'budget',
  'bad_blob',
  'unknown_fetch',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

export interface GossipStats {
  framesSent: Record<FrameTypeName, number>;
  framesReceived: Record<FrameTypeName, number>;
  bytesSent: number;
  bytesReceived: number;
  /** messages we originated */
  broadcasts: number;
  /** messages delivered to us */
  delivered: number;
  /** full messages received again (Plumtree prunes their sender) */
  duplicates: number;
  /** inputs dropped, by reason */
  drops: Record<DropReason, number>;
  penalties: number;
  /** connections held: up + dialling */
  connections: number;
  seenIds: number;
  cachedMessages: number;
  blobBytes: number;
}

export function emptyFrameCounts(): Record<FrameTypeName, number> {
  return Object.fromEntries(Object.keys(FRAME_TYPE).map((k) => [k, 0])) as Record<FrameTypeName, number>;
}

export function emptyDrops(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((k) => [k, 0])) as Record<DropReason, number>;
}
