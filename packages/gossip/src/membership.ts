/**
 * HyParView membership of one topic (Leitão, Pereira, Rodrigues, "HyParView: a membership protocol
 * for reliable gossip-based broadcast", DSN 2007).
 *
 * - Active view: a few neighbours with live connections (symmetric: both sides hold each other).
 *   Broadcast runs over it. Passive view: a larger random sample of members, refreshed by shuffles,
 *   from which a failed neighbour is replaced.
 * - Join (§4.2): the newcomer asks a contact (JOIN); the contact takes it as a neighbour and sends
 *   FORWARD_JOIN random walks to its other neighbours; a walk adds the newcomer to a passive view
 *   at ttl = PRWL and ends, with a new neighbour for the newcomer, at ttl 0 (ARWL hops) or at a
 *   node with a single neighbour.
 * - Failure (§4.3): a lost neighbour is replaced by a random passive member, asked with priority
 *   high when we have no neighbour left (it must accept) and low otherwise (it accepts if it has
 *   room). Adding to a full active view evicts a random neighbour, which is told (DISCONNECT) and
 *   keeps us in its passive view.
 * - Shuffle (§4.4): periodically we send ourselves + a few active and passive entries on a random
 *   walk; the node where it ends replies with as many of its passive entries (along the reverse
 *   path of the walk, so no extra connection is needed) and both merge what they got.
 *
 * Departures from the paper, each for srmudp's setting: a request waits `neighbourTimeoutMs`
 * (seconds: a new neighbour may need a NAT punch); new neighbours are asked with a request/reply
 * pair on a connection the host opened, and the host is told which member introduced the peer so
 * it can connect via it; a periodic check refills an active view below half its capacity and
 * re-joins through the bootstrap peers when everything else failed.
 */
import { toHex } from '@srmudp/wire';
import { encodeFrame, type GossipFrame, type PeerRecord } from './codec.js';
import type { Context } from './context.js';
import { PassiveView } from './passive-view.js';
import type { Timer } from './timers.js';

export interface ActiveEntry {
  peer: Uint8Array;
  record: Uint8Array;
}

/** A member to join through: its id and signed record. */
export interface PeerInfo {
  peer: Uint8Array;
  record: Uint8Array;
}

interface Pending {
  peer: Uint8Array;
  record: Uint8Array;
  purpose: 'join' | 'neighbor';
  high: boolean;
  sent: boolean;
  timer: Timer;
}

export interface MembershipHooks {
  onActiveAdded(now: number, key: string): void;
  onActiveRemoved(now: number, key: string): void;
}

type MembershipFrame = Extract<
  GossipFrame,
  {
    type:
      | 'join'
      | 'forward_join'
      | 'neighbor'
      | 'neighbor_reply'
      | 'disconnect'
      | 'shuffle'
      | 'shuffle_reply';
  }
>;

/** A member we tried (rejected us, failed) is not asked again by refills for this many check periods. */
const RETRY_AFTER_CHECKS = 6;

export class Membership {
  readonly active = new Map<string, ActiveEntry>();
  readonly passive: PassiveView;
  readonly pending = new Map<string, Pending>();
  readonly #ctx: Context;
  readonly #topic: Uint8Array;
  readonly #topicKey: string;
  readonly #hooks: MembershipHooks;
  #bootstrap: PeerInfo[] = [];
  #bootIndex = 0;
  /** join attempts since the last success or check; a full round waits for the next check */
  #joinAttempts = 0;
  readonly #tried = new Map<string, number>();
  /** our shuffles in flight: id → the passive keys we sent (preferred evictions when the reply comes) */
  readonly #shuffles = new Map<string, { sent: Set<string>; expires: number }>();
  /** shuffles we forwarded: id → neighbour it came from (the reply goes back that way) */
  readonly #routes = new Map<string, { prev: string; expires: number }>();
  #shuffleTimer: Timer | null = null;
  #checkTimer: Timer | null = null;
  #left = false;

  constructor(ctx: Context, topic: Uint8Array, topicKey: string, hooks: MembershipHooks) {
    this.#ctx = ctx;
    this.#topic = topic;
    this.#topicKey = topicKey;
    this.#hooks = hooks;
    const o = ctx.options;
    this.passive = new PassiveView(o.passiveViewCapacity, o.maxPassivePerIntroducer, ctx.random);
  }

  start(now: number, bootstrap: readonly PeerInfo[]): void {
    this.#bootstrap = bootstrap
      .filter((b) => toHex(b.peer) !== this.#ctx.selfKey)
      .map((b) => ({ peer: b.peer.slice(), record: b.record.slice() }));
    this.#bootIndex = this.#ctx.random.int(Math.max(1, this.#bootstrap.length));
    this.#scheduleCheck(now);
    this.#tryJoin(now);
  }

  /** Adds bootstrap members (e.g. a new card); joins through them if we are alone. */
  addBootstrap(now: number, peers: readonly PeerInfo[]): void {
    for (const b of peers) {
      const k = toHex(b.peer);
      if (k === this.#ctx.selfKey || this.#bootstrap.some((x) => toHex(x.peer) === k)) continue;
      this.#bootstrap.push({ peer: b.peer.slice(), record: b.record.slice() });
    }
    this.#tryJoin(now);
  }

  /** Leaves the topic: neighbours are told we are gone (not alive: they drop us from their views). */
  leave(now: number): void {
    this.#left = true;
    for (const key of [...this.active.keys()]) {
      this.#send(key, { type: 'disconnect', topic: this.#topic, alive: false });
      this.#removeActive(now, key);
    }
    for (const [key, p] of [...this.pending]) {
      this.#ctx.timers.cancel(p.timer);
      this.pending.delete(key);
      this.#ctx.conns.release(key, this.#topicKey);
    }
    this.#ctx.timers.cancel(this.#shuffleTimer);
    this.#ctx.timers.cancel(this.#checkTimer);
  }

  isActive(key: string): boolean {
    return this.active.has(key);
  }

  // --------------------------------------------------------------------------------------------
  // Connection events (from the gossip instance)

  /** A connection we asked for is up: send the request it was for. */
  onConnectionUp(now: number, key: string): void {
    const p = this.pending.get(key);
    if (p && !p.sent) this.#sendRequest(now, key, p);
  }

  /** The connection to `key` is gone (closed, failed, or the dial never completed). */
  onConnectionLost(now: number, key: string): void {
    if (this.pending.has(key)) this.#requestFailed(now, key, 'lost');
    if (this.active.has(key)) {
      this.#removeActive(now, key);
      this.passive.remove(key); // HyParView: a failed neighbour is dropped, not kept as a candidate
      this.#fill(now);
    }
  }

  /** `key` was penalised: forget it and everything it told us. */
  onPenalised(now: number, key: string): void {
    const p = this.pending.get(key);
    if (p) {
      this.#ctx.timers.cancel(p.timer);
      this.pending.delete(key);
    }
    const wasActive = this.active.has(key);
    if (wasActive) this.#removeActive(now, key);
    this.passive.remove(key);
    this.passive.removeFromSource(key);
    if (wasActive || p) this.#fill(now);
  }

  // --------------------------------------------------------------------------------------------
  // Frames

  handle(now: number, from: string, f: MembershipFrame): void {
    if (this.#left) return;
    switch (f.type) {
      case 'join':
        this.#onJoin(now, from, f.record);
        return;
      case 'forward_join':
        this.#onForwardJoin(now, from, f);
        return;
      case 'neighbor':
        this.#onNeighbor(now, from, f.high, f.record);
        return;
      case 'neighbor_reply':
        this.#onNeighborReply(now, from, f.accepted);
        return;
      case 'disconnect':
        this.#onDisconnect(now, from, f.alive);
        return;
      case 'shuffle':
        this.#onShuffle(now, from, f);
        return;
      case 'shuffle_reply':
        this.#onShuffleReply(now, from, f);
        return;
    }
  }

  #onJoin(now: number, from: string, record: Uint8Array): void {
    const conn = this.#ctx.conns.get(from);
    if (!conn) return;
    if (this.active.has(from)) {
      this.#send(from, { type: 'neighbor_reply', topic: this.#topic, accepted: true });
      return;
    }
    // The reply goes first: frames the new neighbour's tree sends next (prune, ihave) must find us active.
    this.#send(from, { type: 'neighbor_reply', topic: this.#topic, accepted: true });
    this.#addActive(now, from, conn.peer, record.slice());
    const ttl = this.#ctx.options.activeRandomWalkLength;
    const fj = encodeFrame({
      type: 'forward_join',
      topic: this.#topic,
      peer: conn.peer,
      ttl,
      via: this.#ctx.self,
      record,
    });
    for (const k of this.active.keys()) if (k !== from) this.#ctx.send(k, fj);
  }

  #onForwardJoin(now: number, from: string, f: Extract<GossipFrame, { type: 'forward_join' }>): void {
    const jk = toHex(f.peer);
    if (jk === this.#ctx.selfKey || this.#ctx.isBanned(jk, now)) return;
    const o = this.#ctx.options;
    const fromPeer = this.#ctx.conns.get(from)?.peer ?? null;
    if (f.ttl === 0 || this.active.size <= 1) {
      this.#acceptJoiner(now, jk, f);
      return;
    }
    if (f.ttl === o.passiveRandomWalkLength && !this.active.has(jk)) {
      this.passive.add(
        jk,
        { peer: f.peer.slice(), record: f.record.slice(), introducer: f.via.slice(), source: fromPeer },
        from,
      );
    }
    const next = this.#ctx.random.pick([...this.active.keys()].filter((k) => k !== from && k !== jk));
    if (next === undefined) {
      this.#acceptJoiner(now, jk, f);
      return;
    }
    this.#send(next, { ...f, ttl: f.ttl - 1 });
  }

  #acceptJoiner(now: number, jk: string, f: Extract<GossipFrame, { type: 'forward_join' }>): void {
    if (this.active.has(jk) || this.pending.has(jk)) return;
    this.#request(now, jk, f.peer.slice(), f.record.slice(), f.via.slice(), 'neighbor', true);
  }

  #onNeighbor(now: number, from: string, high: boolean, record: Uint8Array): void {
    const conn = this.#ctx.conns.get(from);
    if (!conn) return;
    const cap = this.#ctx.options.activeViewCapacity;
    if (this.active.has(from) || this.pending.has(from) || high || this.active.size < cap) {
      this.#send(from, { type: 'neighbor_reply', topic: this.#topic, accepted: true });
      if (!this.active.has(from)) this.#addActive(now, from, conn.peer, record.slice());
      return;
    }
    this.#send(from, { type: 'neighbor_reply', topic: this.#topic, accepted: false });
    this.#ctx.conns.dropIfUnused(from);
  }

  #onNeighborReply(now: number, from: string, accepted: boolean): void {
    const p = this.pending.get(from);
    if (!p) return;
    if (accepted) {
      this.#addActive(now, from, p.peer, p.record);
      this.#joinAttempts = 0;
    } else {
      this.#requestFailed(now, from, 'rejected');
    }
  }

  #onDisconnect(now: number, from: string, alive: boolean): void {
    const e = this.active.get(from);
    if (!e) return;
    this.#removeActive(now, from);
    if (alive)
      this.passive.add(from, { peer: e.peer, record: e.record, introducer: null, source: null }, null);
    else this.passive.remove(from);
    this.#fill(now);
  }

  #onShuffle(now: number, from: string, f: Extract<GossipFrame, { type: 'shuffle' }>): void {
    const ok = toHex(f.origin);
    if (ok === this.#ctx.selfKey) return;
    const idKey = toHex(f.id);
    if (f.ttl > 0 && this.active.size > 1) {
      const next = this.#ctx.random.pick([...this.active.keys()].filter((k) => k !== from && k !== ok));
      if (next !== undefined) {
        this.#routes.set(idKey, { prev: from, expires: now + this.#ctx.options.neighbourTimeoutMs });
        this.#send(next, { ...f, ttl: f.ttl - 1 });
        return;
      }
    }
    const offered = new Set<string>([ok, this.#ctx.selfKey, ...f.entries.map((e) => toHex(e.peer))]);
    const reply = this.passive.sample(f.entries.length + 1, (k) => !offered.has(k));
    this.#send(from, {
      type: 'shuffle_reply',
      topic: this.#topic,
      id: f.id,
      entries: reply.map(({ entry }) => ({ peer: entry.peer, record: entry.record })),
    });
    const sent = new Set(reply.map((r) => r.key));
    this.#merge(now, from, [{ peer: f.origin, record: f.record }, ...f.entries], sent);
  }

  #onShuffleReply(now: number, from: string, f: Extract<GossipFrame, { type: 'shuffle_reply' }>): void {
    const idKey = toHex(f.id);
    const route = this.#routes.get(idKey);
    if (route) {
      this.#routes.delete(idKey);
      if (this.#ctx.conns.isUp(route.prev)) this.#send(route.prev, f);
      return;
    }
    const mine = this.#shuffles.get(idKey);
    if (!mine) return;
    this.#shuffles.delete(idKey);
    this.#merge(now, from, f.entries, mine.sent);
  }

  /** Third-party entries from neighbour `from` into the passive view. */
  #merge(now: number, from: string, entries: readonly PeerRecord[], preferEvict: ReadonlySet<string>): void {
    const source = this.#ctx.conns.get(from)?.peer ?? null;
    for (const e of entries) {
      const k = toHex(e.peer);
      if (k === this.#ctx.selfKey || this.active.has(k) || this.#ctx.isBanned(k, now)) continue;
      this.passive.add(
        k,
        { peer: e.peer.slice(), record: e.record.slice(), introducer: source, source },
        from,
        preferEvict,
      );
    }
  }

  // --------------------------------------------------------------------------------------------
  // Views

  #addActive(now: number, key: string, peer: Uint8Array, record: Uint8Array): void {
    if (key === this.#ctx.selfKey) return;
    const existing = this.active.get(key);
    if (existing) {
      existing.record = record;
      return;
    }
    const p = this.pending.get(key);
    if (p) {
      this.#ctx.timers.cancel(p.timer);
      this.pending.delete(key);
    }
    this.#ctx.conns.claim(key, this.#topicKey);
    if (this.active.size >= this.#ctx.options.activeViewCapacity) {
      const victim = this.#ctx.random.pick([...this.active.keys()].filter((k) => k !== key));
      if (victim !== undefined) {
        const v = this.active.get(victim)!;
        this.#send(victim, { type: 'disconnect', topic: this.#topic, alive: true });
        this.#removeActive(now, victim);
        this.passive.add(victim, { peer: v.peer, record: v.record, introducer: null, source: null }, null);
      }
    }
    this.passive.remove(key);
    this.#tried.delete(key);
    this.active.set(key, { peer, record });
    this.#hooks.onActiveAdded(now, key);
    this.#ctx.emit({ type: 'view_changed', topic: this.#topic, peer, added: true });
    if (this.#shuffleTimer === null) {
      const at = now + this.#ctx.random.jitter(this.#ctx.options.firstShuffleDelayMs);
      this.#shuffleTimer = this.#ctx.timers.schedule(at, (t) => this.#shuffle(t));
    }
  }

  #removeActive(now: number, key: string): void {
    const e = this.active.get(key);
    if (!e) return;
    this.active.delete(key);
    this.#hooks.onActiveRemoved(now, key);
    this.#ctx.emit({ type: 'view_changed', topic: this.#topic, peer: e.peer, added: false });
    if (!this.pending.has(key)) this.#ctx.conns.release(key, this.#topicKey);
  }

  // --------------------------------------------------------------------------------------------
  // Requests (join / neighbour)

  #request(
    now: number,
    key: string,
    peer: Uint8Array,
    record: Uint8Array,
    introducer: Uint8Array | null,
    purpose: Pending['purpose'],
    high: boolean,
  ): boolean {
    if (key === this.#ctx.selfKey || this.active.has(key) || this.pending.has(key)) return false;
    if (this.#ctx.isBanned(key, now)) return false;
    const r = this.#ctx.conns.want(now, key, peer, this.#topicKey, record, introducer);
    if (r === 'no-slot') return false;
    const timer = this.#ctx.timers.schedule(now + this.#ctx.options.neighbourTimeoutMs, (t) =>
      this.#requestFailed(t, key, 'timeout'),
    );
    const p: Pending = { peer, record, purpose, high, sent: false, timer };
    this.pending.set(key, p);
    if (r === 'up') this.#sendRequest(now, key, p);
    return true;
  }

  #sendRequest(_now: number, key: string, p: Pending): void {
    p.sent = true;
    const record = this.#ctx.record();
    if (p.purpose === 'join') this.#send(key, { type: 'join', topic: this.#topic, record });
    else this.#send(key, { type: 'neighbor', topic: this.#topic, high: p.high, record });
  }

  #requestFailed(now: number, key: string, why: 'rejected' | 'timeout' | 'lost'): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.#ctx.timers.cancel(p.timer);
    this.pending.delete(key);
    this.#tried.set(key, now);
    if (why !== 'rejected') this.passive.remove(key);
    if (!this.active.has(key))
      this.#ctx.conns.release(key, this.#topicKey, why === 'timeout' ? 'timeout' : 'unneeded');
    if (p.purpose === 'join') this.#tryJoin(now);
    else if (this.#urgent()) this.#fill(now);
    // otherwise the periodic check tries the next candidate: a member with most of its
    // neighbours does not dial its whole passive view in a burst of rejections
  }

  /** Below half the active capacity: refill at once rather than one candidate per check. */
  #urgent(): boolean {
    return this.active.size < Math.ceil(this.#ctx.options.activeViewCapacity / 2);
  }

  /** Asks passive members to become neighbours until the active view (with requests in flight) is full. */
  #fill(now: number, max = Infinity): void {
    if (this.#left) return;
    const o = this.#ctx.options;
    let inFlight = 0;
    for (const p of this.pending.values()) if (p.purpose === 'neighbor') inFlight++;
    let need = Math.min(max, o.activeViewCapacity - this.active.size - inFlight);
    if (need > 0) {
      const retryAfter = RETRY_AFTER_CHECKS * o.fillIntervalMs;
      const candidates = this.passive.sample(
        this.passive.size,
        (k) =>
          !this.pending.has(k) &&
          !this.active.has(k) &&
          now - (this.#tried.get(k) ?? -Infinity) >= retryAfter,
      );
      for (const { key, entry } of candidates) {
        if (need <= 0) break;
        const high = this.active.size === 0;
        if (this.#request(now, key, entry.peer, entry.record, entry.introducer, 'neighbor', high)) need--;
        else if (this.#ctx.conns.size >= this.#ctx.conns.capacity()) break;
      }
    }
    if (this.active.size === 0 && this.pending.size === 0) this.#tryJoin(now);
  }

  #tryJoin(now: number): void {
    if (this.#left || this.active.size > 0 || this.#bootstrap.length === 0) return;
    for (const p of this.pending.values()) if (p.purpose === 'join') return;
    for (let i = 0; i < this.#bootstrap.length && this.#joinAttempts < this.#bootstrap.length; i++) {
      const b = this.#bootstrap[this.#bootIndex++ % this.#bootstrap.length]!;
      this.#joinAttempts++;
      const key = toHex(b.peer);
      if (this.#request(now, key, b.peer, b.record, null, 'join', true)) return;
    }
  }

  // --------------------------------------------------------------------------------------------
  // Periodic work

  #scheduleCheck(now: number): void {
    const at = now + this.#ctx.random.jitter(this.#ctx.options.fillIntervalMs);
    this.#checkTimer = this.#ctx.timers.schedule(at, (t) => this.#check(t));
  }

  #check(now: number): void {
    if (this.#left) return;
    this.#scheduleCheck(now);
    for (const [k, r] of this.#routes) if (r.expires <= now) this.#routes.delete(k);
    for (const [k, s] of this.#shuffles) if (s.expires <= now) this.#shuffles.delete(k);
    const retryAfter = RETRY_AFTER_CHECKS * this.#ctx.options.fillIntervalMs;
    for (const [k, t] of this.#tried) if (now - t >= retryAfter) this.#tried.delete(k);
    this.#joinAttempts = 0;
    // Below half: refill fully. Below capacity: one low-priority request per check, which also
    // merges a group that split (its members keep some of each other in their passive views, and
    // the side with room accepts).
    if (this.#urgent()) this.#fill(now);
    else if (this.active.size < this.#ctx.options.activeViewCapacity) this.#fill(now, 1);
  }

  #shuffle(now: number): void {
    if (this.#left) return;
    const o = this.#ctx.options;
    this.#shuffleTimer = this.#ctx.timers.schedule(now + this.#ctx.random.jitter(o.shuffleIntervalMs), (t) =>
      this.#shuffle(t),
    );
    const target = this.#ctx.random.pick([...this.active.keys()]);
    if (target === undefined) return;
    const fromActive = this.#ctx.random
      .sample(
        [...this.active.keys()].filter((k) => k !== target),
        o.shuffleActiveCount,
      )
      .map((k) => this.active.get(k)!);
    const fromPassive = this.passive.sample(o.shufflePassiveCount);
    const id = this.#ctx.random.bytes(8);
    this.#shuffles.set(toHex(id), {
      sent: new Set(fromPassive.map((p) => p.key)),
      expires: now + 2 * o.neighbourTimeoutMs,
    });
    this.#send(target, {
      type: 'shuffle',
      topic: this.#topic,
      id,
      ttl: o.activeRandomWalkLength,
      origin: this.#ctx.self,
      record: this.#ctx.record(),
      entries: [
        ...fromActive.map((a) => ({ peer: a.peer, record: a.record })),
        ...fromPassive.map(({ entry }) => ({ peer: entry.peer, record: entry.record })),
      ],
    });
  }

  #send(key: string, f: GossipFrame): void {
    this.#ctx.send(key, encodeFrame(f));
  }
}
