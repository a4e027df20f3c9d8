/**
 * A gossip instance: one member's HyParView memberships and Plumtree trees for any number of
 * topics, over connections its host holds. Sans-IO (quinn-proto's shape): inputs
 * `handleMessage`, `neighbourUp/Down`, `handleTimeout`, `broadcast`, `handleFetchResult`; outputs
 * drained with `pollTransmit()`, `pollTimeout()`, `pollEvent()`. Time (`now`, monotonic ms) and
 * randomness come in from the host, so a seeded simulation replays exactly.
 *
 * This file is the public face and the router: argument checks, topics, dispatching each frame
 * to its owner (with the active-neighbour and budget checks), penalties and bans, fetch results
 * and housekeeping. Message admission and delivery are message-intake.ts's; the output queues
 * and counters outbox.ts's; membership (membership.ts, passive-view.ts), trees
 * (broadcast-tree.ts, ihave-queue.ts), connections, blobs, codec and timers have their own files.
 */
import { peerIdentityHex } from '@srmudp/crypto';
import { fromHex, SrmudpError, toHex, WireDecodeError } from '@srmudp/wire';
import { BlobFetcher, BlobStore } from './blobs.js';
import { BroadcastTree } from './broadcast-tree.js';
import { assertBytes, assertNow } from './bytes.js';
import { decodeFrame, type GossipFrame, PEER_ID_LENGTH, TOPIC_ID_LENGTH } from './codec.js';
import { checkRecord, type GossipConfig, type GossipOptions, resolveOptions } from './config.js';
import { Connections } from './connections.js';
import type { Context, Topic } from './context.js';
import type { DropReason, GossipEvent, GossipStats, PenaltyReason } from './events.js';
import { IHaveQueue } from './ihave-queue.js';
import { Membership, type PeerInfo } from './membership.js';
import { blobHash, defaultVerifier, identitySigner } from './message.js';
import { MessageIntake } from './message-intake.js';
import { MessageStore } from './message-store.js';
import { type GossipTransmit, Outbox } from './outbox.js';
import type { PassiveEntry } from './passive-view.js';
import { RandomSource } from './random.js';
import { type Timer, TimerQueue } from './timers.js';

/** Re-exported: the transmit type belongs to outbox.ts, the API to this class. */
export type { GossipTransmit };

/** Error codes `broadcast` throws (API misuse is a TypeError/RangeError). */
export type GossipErrorCode =
  | 'GOSSIP_NOT_JOINED'
  | 'GOSSIP_RATE_LIMITED'
  | 'GOSSIP_TOO_LARGE'
  | 'GOSSIP_CLOSED';

export class GossipError extends SrmudpError {
  declare readonly code: GossipErrorCode;
  constructor(code: GossipErrorCode, message: string) {
    super(code, message);
    this.name = 'GossipError';
  }
}

/** A topic's views, for hosts (members()) and tests. */
export interface TopicView {
  active: Uint8Array[];
  passive: PassiveEntry[];
  /** neighbours we push full messages to (tree links) */
  eager: Uint8Array[];
  /** neighbours we only announce ids to */
  lazy: Uint8Array[];
  /** neighbours asked and not answered yet */
  pending: Uint8Array[];
}

const HOUSEKEEPING_MS = 1_000;

export class Gossip {
  /** our peer id (the signer's public key) */
  readonly peerId: Uint8Array;
  readonly options: Readonly<GossipOptions>;
  readonly #selfKey: string;
  readonly #random: RandomSource;
  readonly #timers = new TimerQueue();
  readonly #conns: Connections;
  readonly #store: MessageStore;
  readonly #blobs: BlobStore;
  readonly #fetcher: BlobFetcher;
  readonly #ihave: IHaveQueue;
  readonly #intake: MessageIntake;
  readonly #out = new Outbox();
  readonly #topics = new Map<string, Topic>();
  /** banned neighbours by key holder (peerIdentityHex), until when */
  readonly #bans = new Map<string, number>();
  readonly #ctx: Context;
  #record: Uint8Array;
  #closed = false;
  #housekeeping: Timer | null = null;

  constructor(config: GossipConfig) {
    if (typeof config !== 'object' || config === null) throw new TypeError('"config" expected an object');
    if (typeof config.random !== 'function') throw new TypeError('"random" expected a function');
    if (config.signer === undefined && config.identity === undefined) {
      throw new TypeError('"identity" or "signer" is required');
    }
    const signer = config.signer ?? identitySigner(config.identity!);
    assertBytes(signer.publicKey, 'signer.publicKey', PEER_ID_LENGTH);
    checkRecord(config.record);
    if (typeof config.wallClockOffsetMs !== 'number' || !Number.isFinite(config.wallClockOffsetMs)) {
      throw new TypeError('"wallClockOffsetMs" expected a finite number');
    }
    if (config.verify !== undefined && typeof config.verify !== 'function') {
      throw new TypeError('"verify" expected a function');
    }
    const o = resolveOptions(config.options);
    this.options = Object.freeze(o);
    this.peerId = signer.publicKey.slice();
    this.#selfKey = toHex(this.peerId);
    this.#random = new RandomSource(config.random);
    this.#record = config.record.slice();
    this.#conns = new Connections(
      o,
      this.#timers,
      (e) => this.#emit(e),
      () => this.#topics.size * o.activeViewCapacity + o.extraConnections,
    );
    this.#store = new MessageStore(o.maxMessageAgeMs + o.maxClockSkewMs, o.messageCacheMs);
    this.#blobs = new BlobStore(o.blobStoreBytes, o.messageCacheMs);
    this.#fetcher = new BlobFetcher(
      this.#timers,
      o.fetchTimeoutMs,
      (r) => {
        const c = this.#conns.get(r.peerKey);
        if (c)
          this.#emit({ type: 'fetch', requestId: r.requestId, peer: c.peer, hash: r.hash, size: r.size });
      },
      (k) => this.#conns.isUp(k),
    );
    this.#ihave = new IHaveQueue(
      this.#timers,
      o.ihaveIntervalMs,
      (k, b) => this.#send(k, b),
      (t, k) => this.#topics.get(t)?.membership.isActive(k) ?? false,
    );
    this.#intake = new MessageIntake(
      {
        options: o,
        peerId: this.peerId,
        selfKey: this.#selfKey,
        signer,
        verify: config.verify ?? defaultVerifier,
        conns: this.#conns,
        store: this.#store,
        blobs: this.#blobs,
        fetcher: this.#fetcher,
        out: this.#out,
        penalise: (now, k, reason, detail) => this.#penalise(now, k, reason, detail),
        addPenalty: (now, k, points, reason, detail) => this.#addPenalty(now, k, points, reason, detail),
      },
      config.wallClockOffsetMs,
    );
    this.#ctx = {
      options: o,
      self: this.peerId,
      selfKey: this.#selfKey,
      random: this.#random,
      timers: this.#timers,
      conns: this.#conns,
      record: () => this.#record,
      send: (k, b) => this.#send(k, b),
      emit: (e) => this.#emit(e),
      isBanned: (k, now) => this.#isBanned(k, now),
    };
  }

  // ============================================================================================
  // Inputs

  /**
   * Joins (or adds bootstrap members to) a topic. With no bootstrap members this node waits to be
   * joined (the first member of a group).
   */
  joinTopic(now: number, topic: Uint8Array, bootstrap: readonly PeerInfo[] = []): void {
    this.#input(now);
    assertBytes(topic, 'topic', TOPIC_ID_LENGTH);
    for (const [i, b] of bootstrap.entries()) {
      assertBytes(b?.peer, `bootstrap[${i}].peer`, PEER_ID_LENGTH);
      checkRecord(b.record);
    }
    const key = toHex(topic);
    const existing = this.#topics.get(key);
    if (existing) {
      existing.membership.addBootstrap(now, bootstrap);
      return;
    }
    const t = topic.slice();
    let tree: BroadcastTree | null = null;
    const membership = new Membership(this.#ctx, t, key, {
      onActiveAdded: (n, k) => tree?.neighbourUp(n, k),
      onActiveRemoved: (_n, k) => tree?.neighbourDown(k),
    });
    tree = new BroadcastTree(this.#ctx, t, key, this.#store, this.#ihave, (k) => membership.isActive(k));
    this.#topics.set(key, { topic: t, key, membership, tree });
    membership.start(now, bootstrap);
  }

  /** Leaves a topic: neighbours are told, connections no other topic uses are dropped. */
  leaveTopic(now: number, topic: Uint8Array): void {
    this.#input(now);
    assertBytes(topic, 'topic', TOPIC_ID_LENGTH);
    const key = toHex(topic);
    const t = this.#topics.get(key);
    if (!t) return;
    t.membership.leave(now);
    this.#topics.delete(key);
  }

  /**
   * Broadcasts `data` to the topic; returns the message id. Payloads above `inlineLimit` go out as
   * a blob announcement (neighbours fetch the bytes). Throws GossipError `GOSSIP_NOT_JOINED`,
   * `GOSSIP_TOO_LARGE`, or `GOSSIP_RATE_LIMITED` (over this node's own share of the per-origin limit).
   */
  broadcast(now: number, topic: Uint8Array, data: Uint8Array): Uint8Array {
    this.#input(now);
    assertBytes(topic, 'topic', TOPIC_ID_LENGTH);
    assertBytes(data, 'data');
    if (this.#closed) throw new GossipError('GOSSIP_CLOSED', 'gossip instance is closed');
    const t = this.#topics.get(toHex(topic));
    if (!t) throw new GossipError('GOSSIP_NOT_JOINED', 'not a member of this topic: call joinTopic first');
    const o = this.options;
    if (data.length > o.inlineLimit && data.length > o.maxBlobSize) {
      throw new GossipError(
        'GOSSIP_TOO_LARGE',
        `payload of ${data.length} bytes exceeds maxBlobSize ${o.maxBlobSize}`,
      );
    }
    if (!this.#intake.admitOwn(now, data.length)) {
      throw new GossipError('GOSSIP_RATE_LIMITED', 'over this member’s broadcast rate limit: retry later');
    }
    return this.#intake.originate(now, t, data);
  }

  /** A frame from a neighbour (the host's authenticated connection to `from`). Never throws on bad bytes. */
  handleMessage(now: number, from: Uint8Array, bytes: Uint8Array): void {
    this.#input(now);
    assertBytes(from, 'from', PEER_ID_LENGTH);
    assertBytes(bytes, 'bytes');
    if (this.#closed) return;
    const key = toHex(from);
    this.#out.counts.bytesReceived += bytes.length;
    if (this.#isBanned(key, now)) {
      this.#drop('banned');
      return;
    }
    if (!this.#conns.isUp(key)) {
      // The host delivers only on connections it holds: treat the first bytes as the connection's start.
      this.neighbourUp(now, from);
      if (!this.#conns.isUp(key)) {
        this.#drop('not_neighbour');
        return;
      }
    }
    let f: GossipFrame;
    try {
      f = decodeFrame(bytes);
    } catch (e) {
      if (e instanceof WireDecodeError && e.code === 'UNSUPPORTED_VERSION') {
        this.#drop('unsupported_version');
        return;
      }
      this.#drop('malformed');
      this.#penalise(now, key, 'MALFORMED', e instanceof Error ? e.message : String(e));
      return;
    }
    this.#out.counts.framesReceived[f.type]++;
    const t = this.#topics.get(toHex(f.topic));
    if (!t) {
      this.#drop('unknown_topic');
      return;
    }
    switch (f.type) {
      case 'join':
      case 'neighbor':
      case 'neighbor_reply':
      case 'disconnect':
        t.membership.handle(now, key, f);
        return;
      case 'forward_join':
      case 'shuffle':
      case 'shuffle_reply':
        if (!t.membership.isActive(key)) {
          this.#drop('not_neighbour');
          return;
        }
        if (!this.#conns.get(key)!.membershipBudget.take(now)) {
          this.#drop('budget');
          return;
        }
        t.membership.handle(now, key, f);
        return;
      case 'gossip':
        this.#intake.onGossip(now, t, key, f);
        return;
      case 'ihave':
        if (!t.membership.isActive(key)) {
          this.#drop('not_neighbour');
          return;
        }
        this.#intake.onIHave(now, t, key, f.items);
        return;
      case 'graft': {
        if (!t.membership.isActive(key)) {
          this.#drop('not_neighbour');
          return;
        }
        if (f.id !== null && !this.#conns.get(key)!.graftBudget.take(now)) {
          this.#drop('budget');
          return;
        }
        t.tree.onGraft(key, f.id, f.id ? toHex(f.id) : null);
        return;
      }
      case 'prune':
        if (!t.membership.isActive(key)) {
          this.#drop('not_neighbour');
          return;
        }
        t.tree.onPrune(key);
        return;
    }
  }

  /**
   * A connection to `peer` is established (one we were asked to dial, or an incoming one). Call it
   * again when a 'neighbour_wanted' peer is already connected. `rttMs` tunes the graft timer.
   */
  neighbourUp(now: number, peer: Uint8Array, info: { rttMs?: number } = {}): void {
    this.#input(now);
    assertBytes(peer, 'peer', PEER_ID_LENGTH);
    if (this.#closed) return;
    const key = toHex(peer);
    if (key === this.#selfKey) return;
    if (this.#isBanned(key, now)) {
      this.#emit({ type: 'neighbour_dropped', peer: peer.slice(), cause: 'penalised' });
      return;
    }
    const existing = this.#conns.get(key);
    if (existing?.state === 'up') {
      if (info.rttMs !== undefined) this.setNeighbourRtt(peer, info.rttMs);
      return;
    }
    const c = this.#conns.up(now, key, existing?.peer ?? peer.slice(), (n, k) => this.#linger(n, k));
    if (!c) return;
    if (info.rttMs !== undefined) this.setNeighbourRtt(peer, info.rttMs);
    for (const t of this.#topics.values()) t.membership.onConnectionUp(now, key);
  }

  /** The connection to `peer` is gone (closed, failed, or the dial we asked for failed). */
  neighbourDown(now: number, peer: Uint8Array): void {
    this.#input(now);
    assertBytes(peer, 'peer', PEER_ID_LENGTH);
    const key = toHex(peer);
    if (!this.#conns.remove(key)) return;
    for (const t of this.#topics.values()) {
      t.membership.onConnectionLost(now, key);
      t.tree.neighbourDown(key);
    }
    this.#fetcher.peerGone(now, key);
  }

  /** The host's smoothed RTT to a neighbour (the graft timer is max(graftTimeoutMinMs, 2·srtt)). */
  setNeighbourRtt(peer: Uint8Array, rttMs: number): void {
    assertBytes(peer, 'peer', PEER_ID_LENGTH);
    if (typeof rttMs !== 'number' || !Number.isFinite(rttMs) || rttMs < 0) {
      throw new RangeError(`"rttMs" expected a finite number ≥ 0, got ${rttMs}`);
    }
    const c = this.#conns.get(toHex(peer));
    if (c) c.rttMs = rttMs;
  }

  /**
   * The answer to a 'fetch' event: the blob's bytes (gossip keeps this buffer: do not reuse it),
   * or null when the peer could not serve it. Wrong bytes penalise the peer.
   */
  handleFetchResult(now: number, requestId: number, data: Uint8Array | null): void {
    this.#input(now);
    if (data !== null) assertBytes(data, 'data');
    const r = this.#fetcher.result(
      now,
      requestId,
      data,
      (job, d) => d.length === job.size && toHex(blobHash(d)) === job.hashHex,
    );
    if (!r) {
      this.#drop('unknown_fetch');
      return;
    }
    if (r.outcome === 'bad') {
      this.#drop('bad_blob');
      this.#penalise(
        now,
        r.peerKey,
        'BAD_BLOB',
        `blob ${r.job.hashHex.slice(0, 16)}… does not match its hash or size`,
      );
      return;
    }
    if (r.outcome !== 'ok' || data === null) return;
    this.#blobs.put(r.job.hashHex, data, now);
    for (const idHex of r.job.waiting) {
      const m = this.#store.get(idHex);
      const t = m && this.#topics.get(m.topicKey);
      if (m && t && !m.complete) this.#intake.complete(now, t, m);
    }
  }

  /** A blob we hold, to serve a neighbour's fetch (shared buffer: do not modify), or null. */
  blob(now: number, hash: Uint8Array): Uint8Array | null {
    assertNow(now);
    assertBytes(hash, 'hash', 32);
    return this.#blobs.get(toHex(hash), now) ?? null;
  }

  handleTimeout(now: number): void {
    this.#input(now);
    this.#timers.runDue(now);
  }

  /** Replaces our signed record (e.g. new candidates); neighbours get it with our next request or shuffle. */
  setRecord(record: Uint8Array): void {
    checkRecord(record);
    this.#record = record.slice();
  }

  /** wall clock = now + offset (after the host's clock was corrected). */
  setWallClockOffset(offsetMs: number): void {
    if (typeof offsetMs !== 'number' || !Number.isFinite(offsetMs)) {
      throw new TypeError('"offsetMs" expected a finite number');
    }
    this.#intake.wallOffsetMs = offsetMs;
  }

  /** Leaves every topic and stops. */
  close(now: number): void {
    this.#input(now);
    for (const t of [...this.#topics.values()]) this.leaveTopic(now, t.topic);
    this.#closed = true;
    this.#timers.cancel(this.#housekeeping);
  }

  // ============================================================================================
  // Outputs

  pollTransmit(): GossipTransmit | null {
    return this.#out.transmits.take();
  }

  pollTimeout(): number | null {
    if (this.#closed) return null;
    return this.#timers.next();
  }

  pollEvent(): GossipEvent | null {
    return this.#out.events.take();
  }

  // ============================================================================================
  // Queries

  topicView(topic: Uint8Array): TopicView | null {
    assertBytes(topic, 'topic', TOPIC_ID_LENGTH);
    const t = this.#topics.get(toHex(topic));
    if (!t) return null;
    const peers = (keys: Iterable<string>) =>
      [...keys].map((k) => this.#peerOf(t, k)).filter((p) => p !== null);
    return {
      active: [...t.membership.active.values()].map((e) => e.peer),
      passive: t.membership.passive.entries(),
      eager: peers(t.tree.eager),
      lazy: peers(t.tree.lazy),
      pending: [...t.membership.pending.values()].map((p) => p.peer),
    };
  }

  topics(): Uint8Array[] {
    return [...this.#topics.values()].map((t) => t.topic);
  }

  stats(): GossipStats {
    const s = this.#out.counts;
    return {
      framesSent: { ...s.framesSent },
      framesReceived: { ...s.framesReceived },
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
      broadcasts: s.broadcasts,
      delivered: s.delivered,
      duplicates: s.duplicates,
      drops: { ...s.drops },
      penalties: s.penalties,
      connections: this.#conns.size,
      seenIds: this.#store.seenCount,
      cachedMessages: this.#store.cachedCount,
      blobBytes: this.#blobs.bytes,
    };
  }

  // ============================================================================================
  // Penalties

  #addPenalty(now: number, key: string, points: number, reason: PenaltyReason, detail: string): void {
    if (this.#conns.addPenalty(now, key, points)) this.#penalise(now, key, reason, detail);
  }

  /** Disconnects and bans a neighbour, and forgets what it told us. */
  #penalise(now: number, key: string, reason: PenaltyReason, detail: string): void {
    if (this.#isBanned(key, now)) return;
    const peer = this.#conns.get(key)?.peer ?? (fromHex(key) as Uint8Array);
    // by key holder (crypto's samePeer): the other form of its id is banned too
    this.#bans.set(peerIdentityHex(peer), now + this.options.banMs);
    this.#out.counts.penalties++;
    this.#emit({ type: 'penalised', peer, reason, detail });
    this.#conns.drop(key, 'penalised');
    for (const t of this.#topics.values()) {
      t.membership.onPenalised(now, key);
      t.tree.neighbourDown(key);
    }
    this.#fetcher.peerGone(now, key);
  }

  /** Whether the holder of `key` (hex) is banned, whichever form of its peer id it presents. */
  #isBanned(key: string, now: number): boolean {
    if (this.#bans.size === 0) return false;
    const until = this.#bans.get(peerIdentityHex(fromHex(key) as Uint8Array));
    return until !== undefined && until > now;
  }

  // ============================================================================================
  // Plumbing

  #input(now: number): void {
    assertNow(now);
    if (this.#housekeeping === null && !this.#closed) {
      this.#housekeeping = this.#timers.schedule(now + HOUSEKEEPING_MS, (t) => this.#sweep(t));
    }
  }

  #sweep(now: number): void {
    this.#housekeeping = this.#closed
      ? null
      : this.#timers.schedule(now + HOUSEKEEPING_MS, (t) => this.#sweep(t));
    this.#store.sweep(now);
    this.#intake.sweep(now);
    this.#blobs.sweep(now);
    this.#fetcher.sweep(now, this.options.messageCacheMs);
    for (const t of this.#topics.values()) t.tree.sweep(now);
    for (const [k, until] of this.#bans) if (until <= now) this.#bans.delete(k);
  }

  #linger(_now: number, key: string): void {
    const c = this.#conns.get(key);
    if (c && c.users.size === 0) this.#conns.drop(key, 'timeout');
  }

  #send(key: string, bytes: Uint8Array): void {
    const c = this.#conns.get(key);
    if (c?.state !== 'up') return;
    this.#out.send(c.peer, bytes);
  }

  #emit(e: GossipEvent): void {
    this.#out.emit(e);
  }

  #drop(reason: DropReason): void {
    this.#out.drop(reason);
  }

  #peerOf(t: Topic, key: string): Uint8Array | null {
    return t.membership.active.get(key)?.peer ?? this.#conns.get(key)?.peer ?? null;
  }
}
