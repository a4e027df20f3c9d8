/**
 * Plumtree broadcast over one topic's active view (Leitão, Pereira, Rodrigues, "Epidemic broadcast
 * trees", SRDS 2007).
 *
 * - Every neighbour starts eager: full messages go to eager neighbours, ids (IHAVE) to lazy ones.
 * - A duplicate full message means two paths reach us: the sender becomes lazy and is told to stop
 *   (PRUNE). What remains of the eager links is a spanning tree.
 * - An IHAVE for a message we lack starts a timer (max(graftTimeoutMinMs, 2·srtt)); if the
 *   message has not arrived when it fires, we GRAFT it from the announcer, which also makes that
 *   link eager again: the tree repairs itself where it broke.
 * - Optimisation (§3.8): if a lazy neighbour had a message `optimizationThreshold` hops earlier
 *   than our eager parent delivered it, the lazy link replaces the eager one.
 *
 * `eager`/`lazy` say how *we* push to a neighbour. `prunedAt` remembers when we told a neighbour
 * to stop pushing to us: full duplicates it sends after that (beyond an in-flight grace period)
 * and without a graft from us are unsolicited, which is how a replaying neighbour shows itself.
 */
import { encodeFrame, encodeGossipFrame } from './codec.js';
import type { Context } from './context.js';
import type { IHaveQueue } from './ihave-queue.js';
import type { MessageStore, StoredMessage } from './message-store.js';
import type { Timer } from './timers.js';

interface Missing {
  id: Uint8Array;
  announcers: { key: string; round: number }[];
  timer: Timer | null;
  since: number;
  /** the neighbour we grafted it from, if the timer fired */
  graftedFrom: string | null;
}

/** Lag samples kept for the adaptive graft timer. */
const LAG_SAMPLES = 64;

/** Outstanding announcements one neighbour may have us wait for (bounds memory under IHAVE spam). */
const MAX_MISSING_PER_PEER = 4096;

export class BroadcastTree {
  readonly eager = new Set<string>();
  readonly lazy = new Set<string>();
  readonly #prunedAt = new Map<string, number>();
  /** neighbours we pruned twice in one episode: their next unsolicited duplicates count */
  readonly #repruned = new Set<string>();
  readonly #missing = new Map<string, Missing>();
  readonly #announced = new Map<string, number>();
  /** grafted messages whose graft answer came first: when the eager copy follows, its lag is a sample */
  readonly #awaitingEager = new Map<string, number>();
  readonly #lags: number[] = [];
  #lagNext = 0;
  /** until samples exist the timer starts high: early grafts reshape a tree that is still good */
  #lagQuantile = -1;
  readonly #ctx: Context;
  readonly #topic: Uint8Array;
  readonly #topicKey: string;
  readonly #store: MessageStore;
  readonly #ihave: IHaveQueue;
  readonly #isActive: (key: string) => boolean;

  constructor(
    ctx: Context,
    topic: Uint8Array,
    topicKey: string,
    store: MessageStore,
    ihave: IHaveQueue,
    isActive: (key: string) => boolean,
  ) {
    this.#ctx = ctx;
    this.#topic = topic;
    this.#topicKey = topicKey;
    this.#store = store;
    this.#ihave = ihave;
    this.#isActive = isActive;
  }

  get missingCount(): number {
    return this.#missing.size;
  }

  /** A new neighbour: eager (Plumtree), and told the ids of recent messages so it can graft what it missed. */
  neighbourUp(now: number, key: string): void {
    this.eager.add(key);
    this.lazy.delete(key);
    this.#prunedAt.delete(key);
    this.#repruned.delete(key);
    for (const m of this.#store.recent(this.#topicKey, this.#ctx.options.historyIHaveLimit)) {
      this.#ihave.add(now, key, this.#topic, this.#topicKey, m.id, m.round);
    }
  }

  neighbourDown(key: string): void {
    this.eager.delete(key);
    this.lazy.delete(key);
    this.#prunedAt.delete(key);
    this.#repruned.delete(key);
  }

  /** Sends a complete message on: full to eager neighbours, announced to lazy ones. */
  forward(now: number, m: StoredMessage): void {
    let frame: Uint8Array | null = null;
    for (const k of this.eager) {
      if (k === m.from) continue;
      frame ??= encodeGossipFrame(this.#topic, m.round + 1, m.message.bytes);
      this.#ctx.send(k, frame);
    }
    for (const k of this.lazy) {
      if (k !== m.from) this.#ihave.add(now, k, this.#topic, this.#topicKey, m.id, m.round);
    }
  }

  /** First copy of a message arrived from `from`: that link is (again) part of the tree. */
  onFirst(now: number, from: string, idHex: string): void {
    if (this.#isActive(from)) {
      this.eager.add(from);
      this.lazy.delete(from);
    }
    const m = this.#missing.get(idHex);
    if (m) {
      // How late the full copy came after the first announcement: the adaptive graft timer's input.
      // When our graft's answer won, the eager copy is still on its way: its arrival is the sample.
      if (m.graftedFrom === from) this.#awaitingEager.set(idHex, m.since);
      else this.#addLag(now - m.since);
    }
    this.#resolve(idHex);
  }

  /**
   * A full duplicate from `from`. Prunes an eager sender; returns true when the duplicate was
   * unsolicited (the sender was pruned more than `duplicateGraceMs` ago and not grafted since).
   */
  onDuplicate(now: number, from: string, idHex: string): boolean {
    const since = this.#awaitingEager.get(idHex);
    if (since !== undefined) {
      this.#awaitingEager.delete(idHex);
      this.#addLag(now - since);
    }
    if (!this.#isActive(from)) return false;
    const t0 = this.#prunedAt.get(from);
    if (t0 === undefined) {
      this.#prune(now, from);
      return false;
    }
    if (now - t0 <= this.#ctx.options.duplicateGraceMs) return false; // sent before our prune arrived
    if (!this.#repruned.has(from)) {
      // Our prune may have crossed a change of its views: say it once more before counting.
      this.#repruned.add(from);
      this.#prune(now, from);
      return false;
    }
    return true;
  }

  /** IHAVE for a message we have not seen. */
  onAnnounce(now: number, from: string, id: Uint8Array, idHex: string, round: number): void {
    let m = this.#missing.get(idHex);
    if (!m) {
      if ((this.#announced.get(from) ?? 0) >= MAX_MISSING_PER_PEER) return;
      m = { id: id.slice(), announcers: [], timer: null, since: now, graftedFrom: null };
      this.#missing.set(idHex, m);
    } else if (m.announcers.some((a) => a.key === from)) {
      return;
    }
    m.announcers.push({ key: from, round });
    this.#announced.set(from, (this.#announced.get(from) ?? 0) + 1);
    if (m.timer === null) {
      m.timer = this.#ctx.timers.schedule(now + this.#graftTimeout(from), (t) => this.#graftNext(t, idHex));
    }
  }

  /** IHAVE for a message we have: maybe a shorter path (Plumtree §3.8). */
  onAnnounceKnown(now: number, from: string, m: StoredMessage, round: number): void {
    const threshold = this.#ctx.options.optimizationThreshold;
    if (threshold === 0 || m.optimised || m.from === null || m.from === from) return;
    if (!this.#isActive(from) || !this.#isActive(m.from)) return;
    if (m.round - (round + 1) < threshold) return;
    m.optimised = true;
    this.#graft(from, null, round);
    this.#prune(now, m.from);
    m.from = from;
  }

  onGraft(from: string, id: Uint8Array | null, idHex: string | null): void {
    if (!this.#isActive(from)) return;
    this.eager.add(from);
    this.lazy.delete(from);
    if (id === null || idHex === null) return;
    const m = this.#store.get(idHex);
    if (!m?.complete || m.topicKey !== this.#topicKey) return;
    this.#ctx.send(from, encodeGossipFrame(this.#topic, m.round + 1, m.message.bytes));
  }

  onPrune(from: string): void {
    if (!this.#isActive(from)) return;
    this.eager.delete(from);
    this.lazy.add(from);
  }

  /** Forgets announcements older than the message cache (they can no longer be grafted). */
  sweep(now: number): void {
    const horizon = now - this.#ctx.options.messageCacheMs;
    for (const [idHex, m] of this.#missing) if (m.since <= horizon) this.#resolve(idHex);
    // An eager copy that never came (its sender failed) is no sample: failures must not slow repair.
    const lagHorizon = now - this.#ctx.options.graftTimeoutMaxMs * 4;
    for (const [idHex, since] of this.#awaitingEager)
      if (since <= lagHorizon) this.#awaitingEager.delete(idHex);
  }

  #prune(now: number, key: string): void {
    this.eager.delete(key);
    this.lazy.add(key);
    this.#prunedAt.set(key, now);
    this.#ctx.send(key, encodeFrame({ type: 'prune', topic: this.#topic }));
  }

  #graft(key: string, id: Uint8Array | null, round: number): void {
    this.eager.add(key);
    this.lazy.delete(key);
    this.#prunedAt.delete(key);
    this.#repruned.delete(key);
    this.#ctx.send(key, encodeFrame({ type: 'graft', topic: this.#topic, id, round }));
  }

  #graftNext(now: number, idHex: string): void {
    const m = this.#missing.get(idHex);
    if (!m) return;
    m.timer = null;
    for (;;) {
      const a = m.announcers.shift();
      if (!a) return; // wait for another announcement (or the sweep)
      this.#unannounce(a.key);
      if (!this.#isActive(a.key)) continue;
      this.#graft(a.key, m.id, a.round);
      m.graftedFrom = a.key;
      m.timer = this.#ctx.timers.schedule(now + this.#graftTimeout(a.key), (t) => this.#graftNext(t, idHex));
      return;
    }
  }

  #resolve(idHex: string): void {
    const m = this.#missing.get(idHex);
    if (!m) return;
    this.#ctx.timers.cancel(m.timer);
    for (const a of m.announcers) this.#unannounce(a.key);
    this.#missing.delete(idHex);
  }

  #unannounce(key: string): void {
    const n = (this.#announced.get(key) ?? 0) - 1;
    if (n > 0) this.#announced.set(key, n);
    else this.#announced.delete(key);
  }

  /**
   * max(graftTimeoutMinMs, 2·srtt of the announcer), at most graftTimeoutMaxMs (Plumtree's timer
   * with iroh-gossip's 80 ms floor). With `adaptiveGraftTimeout` it also covers 1.5 × the 95th
   * percentile of how late full copies have come after their first announcement here: with one
   * tree shared by all origins a copy on the tree is routinely hundreds of ms behind an
   * announcement from a lazy neighbour nearer the origin, and grafting then only swaps one eager
   * link for another. Off by default: it cuts redundancy in a stable group but slows repair under
   * churn (figures in the README).
   */
  #graftTimeout(key: string): number {
    const o = this.#ctx.options;
    const rtt = this.#ctx.conns.get(key)?.rttMs ?? 0;
    const adaptive = o.adaptiveGraftTimeout
      ? this.#lagQuantile < 0
        ? o.graftTimeoutMaxMs / 2
        : this.#lagQuantile
      : 0;
    return Math.min(o.graftTimeoutMaxMs, Math.max(o.graftTimeoutMinMs, 2 * rtt, adaptive));
  }

  #addLag(lag: number): void {
    this.#lags[this.#lagNext] = lag;
    this.#lagNext = (this.#lagNext + 1) % LAG_SAMPLES;
    if (this.#lags.length >= 16 && this.#lagNext % 8 === 0) {
      const sorted = this.#lags.slice().sort((a, b) => a - b);
      this.#lagQuantile = 1.5 * sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))]!;
    }
  }
}
