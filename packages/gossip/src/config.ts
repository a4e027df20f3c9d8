/**
 * Configuration of a gossip instance and its defaults. Sources of the defaults: HyParView
 * (Leitão, Pereira, Rodrigues, DSN 2007: active view log(n)+c, ARWL 6, PRWL 3, shuffle of 3 active
 * + 4 passive entries), Plumtree (SRDS 2007: lazy push, graft timer, prune on duplicate) and
 * iroh-gossip's defaults (active 5, passive 30, shuffle every 60 s, message cache 30 s).
 */
import type { Identity } from '@srmudp/crypto';
import { assertBytes } from './bytes.js';
import { MAX_INLINE_SIZE, MAX_RECORD_SIZE } from './codec.js';
import type { Signer, Verifier } from './message.js';

export interface GossipOptions {
  // --- membership (HyParView) ---
  /** live neighbours per topic */
  activeViewCapacity: number;
  /** known members per topic (candidates to replace a failed neighbour) */
  passiveViewCapacity: number;
  /** active random walk length: a forward-join walk ends (joiner becomes a neighbour) after this many hops */
  activeRandomWalkLength: number;
  /** passive random walk length: the node at this remaining ttl adds the joiner to its passive view */
  passiveRandomWalkLength: number;
  shuffleIntervalMs: number;
  /** first shuffle after the first neighbour comes up, so a newcomer fills its passive view early */
  firstShuffleDelayMs: number;
  shuffleActiveCount: number;
  shufflePassiveCount: number;
  /**
   * How long a wanted neighbour may take from 'neighbour_wanted' to its reply: seconds, not
   * iroh's 500 ms, because a new neighbour may need a NAT punch (or a relay via its introducer).
   */
  neighbourTimeoutMs: number;
  /** connections beyond the active views (dials in progress, inbound requests being answered) */
  extraConnections: number;
  /** eclipse guard: passive entries one introducer may occupy */
  maxPassivePerIntroducer: number;
  /**
   * period of the membership check: refill while the active view is below half its capacity,
   * re-join through the bootstrap peers while it is empty and nothing else is left to try
   */
  fillIntervalMs: number;
  // --- broadcast (Plumtree) ---
  /** IHave batching period (5–20 ms keeps announcements cheap without slowing repair) */
  ihaveIntervalMs: number;
  /** graft timer = max(this, 2 × srtt of the announcing neighbour[, adaptive term]) */
  graftTimeoutMinMs: number;
  /** ceiling of the graft timer (how long repair may wait when a tree link broke) */
  graftTimeoutMaxMs: number;
  /** 1: the graft timer also covers the usual lag of full copies behind announcements (see README); 0: off */
  adaptiveGraftTimeout: number;
  /** hops saved that make a lazy link replace the eager one (Plumtree §3.8); 0 disables */
  optimizationThreshold: number;
  /** how long full messages stay servable to grafts */
  messageCacheMs: number;
  /** messages issued longer ago than this are stale (replay window; ids are remembered this long + skew) */
  maxMessageAgeMs: number;
  /** largest wall-clock difference tolerated between members */
  maxClockSkewMs: number;
  /** payloads above this go out as a blob announcement (≤ 64 KiB, the protocol's inline limit) */
  inlineLimit: number;
  /** largest blob this node fetches */
  maxBlobSize: number;
  /** bytes of blobs kept for serving and delivery */
  blobStoreBytes: number;
  fetchTimeoutMs: number;
  /** recent message ids announced to a new neighbour, so a member that was cut off catches up (0 = off) */
  historyIHaveLimit: number;
  // --- limits ---
  /** per-origin messages per second accepted (and forwarded) */
  originRate: number;
  originBurst: number;
  /** per-origin payload bytes per second (inline or blob size) */
  originByteRate: number;
  originByteBurst: number;
  /** per-neighbour budget of membership frames (forward-join, shuffle, shuffle reply) */
  membershipRate: number;
  membershipBurst: number;
  /** per-neighbour budget of grafts answered */
  graftRate: number;
  graftBurst: number;
  /** penalty points that get a neighbour disconnected; points decay at 1 per second */
  penaltyThreshold: number;
  /** after a prune, duplicates from that neighbour are tolerated this long (in flight) */
  duplicateGraceMs: number;
  /** a penalised peer is refused for this long */
  banMs: number;
}

export const DEFAULT_GOSSIP_OPTIONS: Readonly<GossipOptions> = Object.freeze({
  activeViewCapacity: 5,
  passiveViewCapacity: 30,
  activeRandomWalkLength: 6,
  passiveRandomWalkLength: 3,
  shuffleIntervalMs: 60_000,
  firstShuffleDelayMs: 2_000,
  shuffleActiveCount: 3,
  shufflePassiveCount: 4,
  neighbourTimeoutMs: 10_000,
  extraConnections: 2,
  maxPassivePerIntroducer: 6,
  fillIntervalMs: 5_000,
  ihaveIntervalMs: 10,
  graftTimeoutMinMs: 80,
  graftTimeoutMaxMs: 1000,
  adaptiveGraftTimeout: 0,
  optimizationThreshold: 0,
  messageCacheMs: 30_000,
  maxMessageAgeMs: 120_000,
  maxClockSkewMs: 30_000,
  inlineLimit: 8192,
  maxBlobSize: 16 * 1024 * 1024,
  blobStoreBytes: 64 * 1024 * 1024,
  fetchTimeoutMs: 30_000,
  historyIHaveLimit: 1024,
  originRate: 20,
  originBurst: 50,
  originByteRate: 2 * 1024 * 1024,
  originByteBurst: 32 * 1024 * 1024,
  membershipRate: 4,
  membershipBurst: 32,
  graftRate: 200,
  graftBurst: 1000,
  penaltyThreshold: 20,
  duplicateGraceMs: 2_000,
  banMs: 600_000,
});

/** Smallest allowed value of each option (all are integers or finite numbers ≥ this). */
const MIN: { [K in keyof GossipOptions]: number } = {
  activeViewCapacity: 1,
  passiveViewCapacity: 1,
  activeRandomWalkLength: 1,
  passiveRandomWalkLength: 0,
  shuffleIntervalMs: 100,
  firstShuffleDelayMs: 0,
  shuffleActiveCount: 0,
  shufflePassiveCount: 0,
  neighbourTimeoutMs: 100,
  extraConnections: 1,
  maxPassivePerIntroducer: 1,
  fillIntervalMs: 100,
  ihaveIntervalMs: 0,
  graftTimeoutMinMs: 1,
  graftTimeoutMaxMs: 1,
  adaptiveGraftTimeout: 0,
  optimizationThreshold: 0,
  messageCacheMs: 1000,
  maxMessageAgeMs: 1000,
  maxClockSkewMs: 0,
  inlineLimit: 0,
  maxBlobSize: 1,
  blobStoreBytes: 0,
  fetchTimeoutMs: 100,
  historyIHaveLimit: 0,
  originRate: 0.001,
  originBurst: 1,
  originByteRate: 1,
  originByteBurst: 1,
  membershipRate: 0.001,
  membershipBurst: 1,
  graftRate: 0.001,
  graftBurst: 1,
  penaltyThreshold: 1,
  duplicateGraceMs: 0,
  banMs: 0,
};

export interface GossipConfig {
  /** our identity (signs our broadcasts); or pass `signer` */
  identity?: Identity;
  /** an alternative to `identity`, e.g. a key held elsewhere */
  signer?: Signer;
  /** signature check of received messages (default @srmudp/crypto's `verifySignature`) */
  verify?: Verifier;
  /** cryptographically secure random bytes (seeded in simulations) */
  random: (n: number) => Uint8Array;
  /** our signed rendezvous record: handed to neighbours so they can pass us on (opaque here) */
  record: Uint8Array;
  /** wall clock = now + wallClockOffsetMs (ms since the Unix epoch): message timestamps and the replay window */
  wallClockOffsetMs: number;
  options?: Partial<GossipOptions>;
}

export function resolveOptions(partial: Partial<GossipOptions> | undefined): GossipOptions {
  const o: GossipOptions = { ...DEFAULT_GOSSIP_OPTIONS, ...(partial ?? {}) };
  for (const key of Object.keys(MIN) as (keyof GossipOptions)[]) {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < MIN[key]) {
      throw new RangeError(`"options.${key}" expected a finite number ≥ ${MIN[key]}, got ${String(v)}`);
    }
  }
  if (o.inlineLimit > MAX_INLINE_SIZE) {
    throw new RangeError(`"options.inlineLimit" expected at most ${MAX_INLINE_SIZE}, got ${o.inlineLimit}`);
  }
  if (o.activeRandomWalkLength > 255 || o.passiveRandomWalkLength > o.activeRandomWalkLength) {
    throw new RangeError('random walk lengths expected passive ≤ active ≤ 255');
  }
  if (o.shuffleActiveCount + o.shufflePassiveCount + 1 > 64) {
    throw new RangeError('shuffleActiveCount + shufflePassiveCount expected at most 63');
  }
  // A node's own broadcasts are held to half the burst others grant it (see gossip.ts), and that
  // half must admit the largest payload.
  if (o.originByteBurst < 2 * Math.max(o.maxBlobSize, o.inlineLimit)) {
    throw new RangeError('"options.originByteBurst" expected at least 2 × max(maxBlobSize, inlineLimit)');
  }
  if (o.originBurst < 2) throw new RangeError('"options.originBurst" expected at least 2');
  return o;
}

export function checkRecord(record: unknown): asserts record is Uint8Array {
  assertBytes(record, 'record');
  if (record.length > MAX_RECORD_SIZE) {
    throw new RangeError(`"record" expected at most ${MAX_RECORD_SIZE} bytes, got ${record.length}`);
  }
}
