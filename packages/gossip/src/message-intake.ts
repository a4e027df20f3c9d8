/**
 * Owns how a broadcast message enters this member and leaves it as a delivery: our own broadcast
 * (its share of the per-origin limit, signing, storing), a neighbour's GOSSIP (duplicate, own
 * message, replay window, signature, blob size, per-origin limits, and which of those blame the
 * sender), IHAVE announcements of ids we know or lack, waiting for a blob, and delivering a
 * complete message then passing it on while it is fresh. Penalties themselves (bans, dropping
 * the neighbour everywhere) are the instance's: this file only says when one is due.
 */
import { toHex } from '@srmudp/wire';
import type { BlobFetcher, BlobStore } from './blobs.js';
import { copyMessage, type GossipFrame } from './codec.js';
import type { GossipOptions } from './config.js';
import type { Connections } from './connections.js';
import type { Topic } from './context.js';
import type { PenaltyReason } from './events.js';
import { blobHash, createMessage, messageId, type Signer, type Verifier, verifyMessage } from './message.js';
import type { MessageStore, StoredMessage } from './message-store.js';
import { OriginLimits } from './origin-limits.js';
import type { Outbox } from './outbox.js';

/**
 * Margin on top of the replay window before a stale or future-dated message counts against the
 * neighbour that sent it: an honest neighbour forwards only messages inside its own window, so
 * what it sends can be off by at most the clock skew plus the time in flight.
 */
const PENALTY_GRACE_MS = 10_000;

/** What the intake needs of its gossip instance (created once; nothing per message). */
export interface IntakeHost {
  readonly options: GossipOptions;
  readonly peerId: Uint8Array;
  readonly selfKey: string;
  readonly signer: Signer;
  readonly verify: Verifier;
  readonly conns: Connections;
  readonly store: MessageStore;
  readonly blobs: BlobStore;
  readonly fetcher: BlobFetcher;
  readonly out: Outbox;
  /** Disconnects and bans the neighbour `key`. */
  penalise(now: number, key: string, reason: PenaltyReason, detail: string): void;
  /** Adds penalty points to `key`; past the threshold it is penalised. */
  addPenalty(now: number, key: string, points: number, reason: PenaltyReason, detail: string): void;
}

/** Admission, blob wait and delivery of broadcast messages, for every topic of one instance. */
export class MessageIntake {
  /** wall clock = now + wallOffsetMs (the host may correct it). */
  wallOffsetMs: number;
  readonly #h: IntakeHost;
  readonly #limits: OriginLimits;
  /** our own broadcasts: half the burst others grant us, so jitter on the way never trips their limit */
  readonly #ownLimits: OriginLimits;
  #seq = 0;

  constructor(host: IntakeHost, wallOffsetMs: number) {
    this.#h = host;
    this.wallOffsetMs = wallOffsetMs;
    const o = host.options;
    this.#limits = new OriginLimits(o.originRate, o.originBurst, o.originByteRate, o.originByteBurst);
    this.#ownLimits = new OriginLimits(
      o.originRate,
      o.originBurst / 2,
      o.originByteRate,
      o.originByteBurst / 2,
    );
  }

  /** Takes `size` bytes of our own share of the per-origin limit; false when over it. */
  admitOwn(now: number, size: number): boolean {
    return this.#ownLimits.admit(now, this.#h.selfKey, size);
  }

  /** Signs, stores and forwards our own message (a blob announcement above `inlineLimit`); returns its id. */
  originate(now: number, t: Topic, data: Uint8Array): Uint8Array {
    const h = this.#h;
    const copy = data.slice();
    const hash = copy.length > h.options.inlineLimit ? blobHash(copy) : null;
    const { message, id } = createMessage(h.signer, t.topic, {
      issuedAt: Math.floor(now + this.wallOffsetMs),
      seq: this.#seq++,
      payload: hash ? { kind: 'blob', hash, size: copy.length } : { kind: 'inline', data: copy },
    });
    const idHex = toHex(id);
    if (hash) h.blobs.put(toHex(hash), copy, now);
    const stored: StoredMessage = {
      id,
      idHex,
      topicKey: t.key,
      message,
      round: 0,
      from: null,
      at: now,
      complete: true,
      optimised: false,
    };
    h.store.markSeen(idHex, now);
    h.store.put(stored, now);
    h.out.counts.broadcasts++;
    t.tree.forward(now, stored);
    return id;
  }

  /** A GOSSIP frame from the active neighbour `from`. */
  onGossip(now: number, t: Topic, from: string, f: Extract<GossipFrame, { type: 'gossip' }>): void {
    const h = this.#h;
    const m = f.message;
    const id = messageId(t.topic, m.body);
    const idHex = toHex(id);
    const o = h.options;
    if (h.store.isSeen(idHex)) {
      h.out.counts.duplicates++;
      const known = h.store.get(idHex);
      if (known && !known.complete && known.message.payload.kind === 'blob') {
        h.fetcher.addSource(now, toHex(known.message.payload.hash), from);
      }
      // The id covers the topic: a seen id is a duplicate in this topic even after it left the cache.
      if (t.tree.onDuplicate(now, from, idHex)) {
        h.addPenalty(now, from, 1, 'REPLAYED', 'full messages after a prune');
      }
      return;
    }
    if (toHex(m.origin) === h.selfKey) {
      // Our own message that we no longer remember (e.g. replayed to us after a restart).
      h.store.markSeen(idHex, now);
      h.out.drop('own_message');
      return;
    }
    const age = now + this.wallOffsetMs - m.issuedAt;
    if (age > o.maxMessageAgeMs) {
      h.out.drop('stale');
      if (age > o.maxMessageAgeMs + o.maxClockSkewMs + PENALTY_GRACE_MS) {
        h.penalise(now, from, 'REPLAYED', `message issued ${Math.round(age / 1000)} s ago`);
      }
      return;
    }
    if (-age > o.maxClockSkewMs) {
      h.out.drop('future');
      if (-age > 2 * o.maxClockSkewMs + PENALTY_GRACE_MS) {
        h.penalise(now, from, 'REPLAYED', `message issued ${Math.round(-age / 1000)} s in the future`);
      }
      return;
    }
    if (!verifyMessage(h.verify, id, m)) {
      h.out.drop('bad_signature');
      h.penalise(now, from, 'FORGED', 'origin signature does not verify');
      return;
    }
    const originKey = toHex(m.origin);
    const size = m.payload.kind === 'inline' ? m.payload.data.length : m.payload.size;
    if (m.payload.kind === 'blob' && size > o.maxBlobSize) {
      h.store.markSeen(idHex, now);
      h.out.drop('blob_too_large');
      return;
    }
    if (!this.#limits.admit(now, originKey, size)) {
      h.store.markSeen(idHex, now);
      h.out.drop('rate_limited');
      // Only the origin itself is blamed: relays see bursts compressed by path jitter.
      if (originKey === from)
        h.addPenalty(now, from, 1, 'FLOODING', 'messages above the per-origin rate limit');
      return;
    }
    h.store.markSeen(idHex, now);
    const message = copyMessage(m);
    const stored: StoredMessage = {
      id,
      idHex,
      topicKey: t.key,
      message,
      round: f.round,
      from,
      at: now,
      complete: false,
      optimised: false,
    };
    h.store.put(stored, now);
    t.tree.onFirst(now, from, idHex);
    const p = message.payload;
    if (p.kind === 'inline' || h.blobs.has(toHex(p.hash))) this.complete(now, t, stored);
    else h.fetcher.want(now, p.hash, p.size, idHex, from);
  }

  /** An IHAVE from the active neighbour `from`. */
  onIHave(now: number, t: Topic, from: string, items: readonly { id: Uint8Array; round: number }[]): void {
    const h = this.#h;
    for (const it of items) {
      const idHex = toHex(it.id);
      if (!h.store.isSeen(idHex)) {
        t.tree.onAnnounce(now, from, it.id, idHex, it.round);
        continue;
      }
      const m = h.store.get(idHex);
      if (!m || m.topicKey !== t.key) continue;
      if (!m.complete && m.message.payload.kind === 'blob') {
        h.fetcher.addSource(now, toHex(m.message.payload.hash), from);
      } else if (m.complete) {
        t.tree.onAnnounceKnown(now, from, m, it.round);
      }
    }
  }

  /** A message with its payload at hand: deliver it, and pass it on while it is fresh. */
  complete(now: number, t: Topic, m: StoredMessage): void {
    const h = this.#h;
    m.complete = true;
    const p = m.message.payload;
    const data = p.kind === 'inline' ? p.data.slice() : h.blobs.get(toHex(p.hash), now);
    if (data === undefined) return;
    h.out.counts.delivered++;
    h.out.emit({
      type: 'delivered',
      topic: t.topic,
      id: m.id,
      origin: m.message.origin,
      data,
      hops: m.round,
      issuedAt: m.message.issuedAt,
      from: m.from !== null ? (h.conns.get(m.from)?.peer ?? m.message.origin) : h.peerId,
    });
    if (now + this.wallOffsetMs - m.message.issuedAt <= h.options.maxMessageAgeMs) t.tree.forward(now, m);
  }

  /** Forgets idle per-origin budgets. */
  sweep(now: number): void {
    this.#limits.sweep(now);
    this.#ownLimits.sweep(now);
  }
}
