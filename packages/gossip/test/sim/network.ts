/**
 * A message-level network for gossip members on a virtual clock, seeded (@srmudp/sim's Rng).
 *
 * Model (what the srmudp façade gives gossip): each pair of members may hold one reliable,
 * ordered, authenticated connection. One-way latency per pair is uniform in [latencyMs[0],
 * latencyMs[1]], fixed for the pair. A message is lost with probability `loss` per attempt and
 * then retransmitted one RTO (2·RTT + 50 ms) later, holding up the messages behind it (head-of-line
 * blocking, as on a real stream). A dial takes one RTT (Noise IK), plus a punch delay for a
 * fraction of the pairs, and fails after `dialFailMs` when the target is down. A crashed member's
 * neighbours notice after a keepalive timeout drawn from `detectMs`. A closed connection delivers
 * what was sent before the close, then the other side sees it down.
 */
import { identityFromSecret, verifySignature } from '@srmudp/crypto';
import { Rng } from '@srmudp/sim';
import { toHex } from '@srmudp/wire';
import {
  DEFAULT_GOSSIP_OPTIONS,
  Gossip,
  type GossipEvent,
  type GossipOptions,
  peekFrameType,
  type Verifier,
} from '../../src/index.js';
import { TimerQueue } from '../../src/timers.js';

export interface NetOptions {
  seed: string;
  latencyMs?: [number, number];
  loss?: number;
  /** share of dials that need a NAT punch, and its extra delay range */
  punchFraction?: number;
  punchDelayMs?: [number, number];
  dialFailMs?: number;
  detectMs?: [number, number];
  /** wall-clock skew of members, uniform in ±skewMs */
  skewMs?: number;
  /** bytes per ms of a blob fetch (after one RTT) */
  fetchBytesPerMs?: number;
  options?: Partial<GossipOptions>;
  /**
   * Verify each distinct (key, message, signature) once across the whole simulation and reuse
   * the answer: Ed25519 verification is a pure function, so this changes CPU time only, never
   * which messages are accepted (forged ones still fail, verified for real).
   */
  sharedVerifyCache?: boolean;
}

export interface Delivery {
  at: number;
  hops: number;
}

export interface Member {
  readonly index: number;
  readonly key: string;
  readonly id: Uint8Array;
  readonly gossip: Gossip;
  alive: boolean;
  joinedAt: number | null;
  leftAt: number | null;
  /** message id (hex) → first delivery */
  readonly deliveries: Map<string, Delivery>;
  /** deliveries of the same id (must stay 0) */
  duplicateDeliveries: number;
  readonly penalised: { peer: string; reason: string; at: number }[];
  readonly events: GossipEvent[];
  keepEvents: boolean;
  timerAt: number | null;
}

interface Link {
  readonly a: string;
  readonly b: string;
  oneWay: number;
  state: 'dialing' | 'open' | 'closed';
  /** whether each side holds it (a side that dropped or saw it down no longer does) */
  holds: Map<string, boolean>;
  nextFree: Map<string, number>;
}

/** Counters the network keeps while `measuring` is on. */
export interface NetCounters {
  gossipFrames: number;
  controlFrames: number;
  bytes: number;
  deliveries: number;
}

export const WALL_EPOCH = 1_750_000_000_000;

export class GossipNet {
  now = 0;
  readonly rng: Rng;
  readonly members: Member[] = [];
  readonly byKey = new Map<string, Member>();
  readonly topic: Uint8Array;
  measuring = false;
  readonly counters: NetCounters = { gossipFrames: 0, controlFrames: 0, bytes: 0, deliveries: 0 };
  readonly #o: Required<Omit<NetOptions, 'options' | 'sharedVerifyCache'>> & {
    options: Partial<GossipOptions>;
  };
  readonly #links = new Map<string, Link>();
  /** the simulator's event queue is gossip's own timer heap (ordered by time, then FIFO) */
  readonly #queue = new TimerQueue();
  readonly #verify: Verifier | undefined;
  /** what a hostile test captured off the wire: frames received by `capture` members */
  readonly captured: { at: number; from: string; to: string; bytes: Uint8Array }[] = [];
  capture: Set<string> = new Set();

  constructor(opts: NetOptions, topic: Uint8Array) {
    this.rng = new Rng(opts.seed);
    this.topic = topic;
    this.#o = {
      seed: opts.seed,
      latencyMs: opts.latencyMs ?? [10, 50],
      loss: opts.loss ?? 0.01,
      punchFraction: opts.punchFraction ?? 0.2,
      punchDelayMs: opts.punchDelayMs ?? [200, 2000],
      dialFailMs: opts.dialFailMs ?? 3000,
      detectMs: opts.detectMs ?? [2000, 5000],
      skewMs: opts.skewMs ?? 500,
      fetchBytesPerMs: opts.fetchBytesPerMs ?? 10_000,
      options: opts.options ?? {},
    };
    if (opts.sharedVerifyCache) {
      const memo = new Map<string, boolean>();
      this.#verify = (pk, msg, sig) => {
        const k = toHex(pk) + toHex(msg) + toHex(sig);
        let v = memo.get(k);
        if (v === undefined) {
          v = verifySignature(pk, msg, sig);
          memo.set(k, v);
        }
        return v;
      };
    }
  }

  get options(): GossipOptions {
    return { ...DEFAULT_GOSSIP_OPTIONS, ...this.#o.options };
  }

  // ------------------------------------------------------------------------------------------
  // Members

  addMember(options: Partial<GossipOptions> = {}): Member {
    const index = this.members.length;
    const r = this.rng.fork(`member-${index}`);
    const identity = identityFromSecret(r.bytes(32));
    const record = new Uint8Array(120);
    record.set(new TextEncoder().encode(`record-of-member-${index}`));
    const skew = (r.next() * 2 - 1) * this.#o.skewMs;
    const gossip = new Gossip({
      identity,
      random: (n) => r.bytes(n),
      record,
      wallClockOffsetMs: WALL_EPOCH + skew,
      ...(this.#verify ? { verify: this.#verify } : {}),
      options: { ...this.#o.options, ...options },
    });
    const m: Member = {
      index,
      key: toHex(identity.publicKey),
      id: identity.publicKey,
      gossip,
      alive: true,
      joinedAt: null,
      leftAt: null,
      deliveries: new Map(),
      duplicateDeliveries: 0,
      penalised: [],
      events: [],
      keepEvents: false,
      timerAt: null,
    };
    this.members.push(m);
    this.byKey.set(m.key, m);
    return m;
  }

  recordOf(m: Member): Uint8Array {
    const record = new Uint8Array(120);
    record.set(new TextEncoder().encode(`record-of-member-${m.index}`));
    return record;
  }

  join(m: Member, bootstrap: Member[]): void {
    m.joinedAt = this.now;
    m.gossip.joinTopic(
      this.now,
      this.topic,
      bootstrap.map((b) => ({ peer: b.id, record: this.recordOf(b) })),
    );
    this.drive(m);
  }

  /** Live members that joined at least `minAgeMs` ago. */
  live(minAgeMs = 0): Member[] {
    return this.members.filter((m) => m.alive && m.joinedAt !== null && this.now - m.joinedAt >= minAgeMs);
  }

  /**
   * Members a newcomer may hold a card of: live and in the group (with a neighbour), as a card
   * handed out by a member would be. (The first member has no neighbour and is the only choice.)
   */
  contacts(): Member[] {
    const inGroup = this.live().filter((m) => (m.gossip.topicView(this.topic)?.active.length ?? 0) > 0);
    return inGroup.length > 0 ? inGroup : this.live();
  }

  broadcast(m: Member, data: Uint8Array): string {
    const id = toHex(m.gossip.broadcast(this.now, this.topic, data));
    this.drive(m);
    return id;
  }

  /** Stops a member without a word (its neighbours notice after a keepalive timeout). */
  crash(m: Member): void {
    m.alive = false;
    m.leftAt = this.now;
    for (const link of this.#linksOf(m.key)) {
      const other = link.a === m.key ? link.b : link.a;
      link.holds.set(m.key, false);
      if (link.state === 'closed') continue;
      link.state = 'closed';
      if (link.holds.get(other)) {
        const detect = this.#uniform(this.#o.detectMs);
        this.at(this.now + detect, () => this.#down(other, m.key, link));
      }
    }
  }

  /** Leaves gracefully: neighbours are told (DISCONNECT), then the member stops. */
  leave(m: Member): void {
    m.gossip.leaveTopic(this.now, this.topic);
    this.drive(m);
    m.leftAt = this.now;
    // Stop after the goodbyes are on the wire; links then close as the host would close them.
    m.alive = false;
    for (const link of this.#linksOf(m.key)) {
      const other = link.a === m.key ? link.b : link.a;
      link.holds.set(m.key, false);
      if (link.state === 'closed') continue;
      link.state = 'closed';
      if (link.holds.get(other)) this.#closeAfterInFlight(link, m.key, other);
    }
  }

  /** Sends raw bytes from `from` to `to` over their open link (hostile tests). */
  inject(from: Member, to: Member, bytes: Uint8Array): boolean {
    const link = this.#links.get(pairKey(from.key, to.key));
    if (link?.state !== 'open') return false;
    this.#transmit(link, from.key, to.key, bytes);
    return true;
  }

  /** Sizes of the connected components of the live members' active views, largest first. */
  components(): number[] {
    const seen = new Set<string>();
    const sizes: number[] = [];
    for (const m of this.members) {
      if (!m.alive || m.joinedAt === null || seen.has(m.key)) continue;
      let size = 0;
      const stack = [m.key];
      seen.add(m.key);
      while (stack.length > 0) {
        const k = stack.pop()!;
        size++;
        for (const p of this.byKey.get(k)!.gossip.topicView(this.topic)?.active ?? []) {
          const pk = toHex(p);
          if (!seen.has(pk) && this.byKey.get(pk)?.alive) {
            seen.add(pk);
            stack.push(pk);
          }
        }
      }
      sizes.push(size);
    }
    return sizes.sort((a, b) => b - a);
  }

  linkOpen(a: Member, b: Member): boolean {
    return this.#links.get(pairKey(a.key, b.key))?.state === 'open';
  }

  // ------------------------------------------------------------------------------------------
  // Clock

  at(time: number, run: () => void): void {
    this.#queue.schedule(time, run);
  }

  /** Runs events up to `until` (inclusive). Bounded by `maxEvents`. */
  runUntil(until: number, maxEvents = 50_000_000): void {
    for (let i = 0; i < maxEvents; i++) {
      const next = this.#queue.next();
      if (next === null || next > until) {
        this.now = Math.max(this.now, until);
        return;
      }
      this.now = Math.max(this.now, next);
      this.#queue.runDue(next, 1);
    }
    throw new Error(`seed ${this.#o.seed}: more than ${maxEvents} events before ${until} ms`);
  }

  // ------------------------------------------------------------------------------------------
  // Driving a member: drain its outputs, then arm its timer.

  drive(m: Member): void {
    if (!m.alive) return;
    const g = m.gossip;
    for (let i = 0; i < 1_000_000; i++) {
      const t = g.pollTransmit();
      if (!t) break;
      const to = toHex(t.to);
      const link = this.#links.get(pairKey(m.key, to));
      if (link?.state !== 'open' || !link.holds.get(m.key)) continue;
      this.#transmit(link, m.key, to, t.bytes);
    }
    for (let i = 0; i < 1_000_000; i++) {
      const e = g.pollEvent();
      if (!e) break;
      if (m.keepEvents) m.events.push(e);
      this.#onEvent(m, e);
    }
    const next = g.pollTimeout();
    if (next !== null && (m.timerAt === null || next < m.timerAt)) {
      m.timerAt = next;
      const at = Math.max(next, this.now);
      this.at(at, () => {
        if (!m.alive || m.timerAt !== next) return;
        m.timerAt = null;
        g.handleTimeout(this.now);
        this.drive(m);
      });
    }
  }

  #onEvent(m: Member, e: GossipEvent): void {
    switch (e.type) {
      case 'delivered': {
        const id = toHex(e.id);
        if (m.deliveries.has(id)) m.duplicateDeliveries++;
        else m.deliveries.set(id, { at: this.now, hops: e.hops });
        if (this.measuring) this.counters.deliveries++;
        return;
      }
      case 'neighbour_wanted':
        this.#dial(m, toHex(e.peer));
        return;
      case 'neighbour_dropped':
        this.#hostClose(m, toHex(e.peer));
        return;
      case 'penalised':
        m.penalised.push({ peer: toHex(e.peer), reason: e.reason, at: this.now });
        return;
      case 'fetch':
        this.#fetch(m, toHex(e.peer), e.requestId, e.hash, e.size);
        return;
      case 'view_changed':
        return;
    }
  }

  #dial(m: Member, to: string): void {
    const key = pairKey(m.key, to);
    const existing = this.#links.get(key);
    if (existing && existing.state === 'open' && existing.holds.get(to)) {
      existing.holds.set(m.key, true);
      m.gossip.neighbourUp(this.now, this.byKey.get(to)!.id, { rttMs: 2 * existing.oneWay });
      this.drive(m);
      return;
    }
    if (existing && existing.state === 'dialing') {
      existing.holds.set(m.key, true); // simultaneous open: one connection for both
      return;
    }
    const link: Link = {
      a: m.key,
      b: to,
      oneWay: this.#latency(m.key, to),
      state: 'dialing',
      holds: new Map([[m.key, true]]),
      nextFree: new Map(),
    };
    this.#links.set(key, link);
    const target = this.byKey.get(to);
    let delay = 2 * link.oneWay;
    if (this.rng.chance(this.#o.punchFraction)) delay += this.#uniform(this.#o.punchDelayMs);
    this.at(this.now + delay, () => {
      if (this.#links.get(key) !== link || link.state !== 'dialing') return;
      if (!target?.alive || !m.alive) {
        this.at(this.now + Math.max(0, this.#o.dialFailMs - delay), () => {
          if (this.#links.get(key) !== link || link.state !== 'dialing') return;
          link.state = 'closed';
          this.#links.delete(key);
          if (m.alive && link.holds.get(m.key)) {
            m.gossip.neighbourDown(this.now, target?.id ?? new Uint8Array(32));
            this.drive(m);
          }
        });
        return;
      }
      if (!link.holds.get(m.key) && !link.holds.get(to)) {
        this.#links.delete(key); // both sides gave up on it
        return;
      }
      // Established: each host sees a connection (a side that had cancelled its own dial sees an
      // incoming one, which gossip takes as unclaimed and drops if no topic wants it).
      link.state = 'open';
      link.holds.set(m.key, true);
      link.holds.set(to, true);
      for (const side of [target, m]) {
        const other = side === m ? target : m;
        side.gossip.neighbourUp(this.now, other.id, { rttMs: 2 * link.oneWay });
        this.drive(side);
      }
    });
  }

  /** The host closes its side when gossip drops the connection. */
  #hostClose(m: Member, to: string): void {
    const key = pairKey(m.key, to);
    const link = this.#links.get(key);
    if (!link?.holds.get(m.key)) return;
    link.holds.set(m.key, false);
    if (link.state === 'dialing') {
      if (!link.holds.get(to)) this.#links.delete(key); // dial cancelled before it completed
      return;
    }
    if (link.state === 'closed') return;
    link.state = 'closed';
    if (link.holds.get(to)) this.#closeAfterInFlight(link, m.key, to);
    else this.#links.delete(key);
  }

  /** The other side sees the close after everything `from` sent before it. */
  #closeAfterInFlight(link: Link, from: string, to: string): void {
    const t = Math.max(this.now + link.oneWay, link.nextFree.get(from) ?? 0);
    this.at(t, () => this.#down(to, from, link));
  }

  #down(who: string, peer: string, link: Link): void {
    const m = this.byKey.get(who)!;
    if (!link.holds.get(who)) return;
    link.holds.set(who, false);
    const pk = pairKey(who, peer);
    const current = this.#links.get(pk);
    if (current === link && !link.holds.get(peer)) this.#links.delete(pk);
    // The pair already reconnected over a new connection this side holds: the host never reports
    // the old one down (one connection per peer, as srmudp's connect returns the existing one).
    if (current !== link && current?.state === 'open' && current.holds.get(who)) return;
    if (!m.alive) return;
    m.gossip.neighbourDown(this.now, this.byKey.get(peer)!.id);
    this.drive(m);
  }

  #transmit(link: Link, from: string, to: string, bytes: Uint8Array): void {
    let t = this.now + link.oneWay;
    while (this.rng.chance(this.#o.loss)) t += 4 * link.oneWay + 50;
    t = Math.max(t, link.nextFree.get(from) ?? 0);
    link.nextFree.set(from, t);
    if (this.measuring) {
      this.counters.bytes += bytes.length;
      if (peekFrameType(bytes) === 'gossip') this.counters.gossipFrames++;
      else this.counters.controlFrames++;
    }
    this.at(t, () => {
      // Delivered while the receiver holds the connection: what the sender sent before closing
      // still arrives (graceful close); a dead receiver gets nothing.
      const m = this.byKey.get(to)!;
      if (!link.holds.get(to) || !m.alive) return;
      if (this.capture.has(to)) this.captured.push({ at: this.now, from, to, bytes });
      m.gossip.handleMessage(this.now, this.byKey.get(from)!.id, bytes);
      this.drive(m);
    });
  }

  #fetch(m: Member, from: string, requestId: number, hash: Uint8Array, size: number): void {
    const link = this.#links.get(pairKey(m.key, from));
    const server = this.byKey.get(from);
    const rtt = link ? 2 * link.oneWay : 100;
    this.at(this.now + rtt + size / this.#o.fetchBytesPerMs, () => {
      if (!m.alive) return;
      const ok = link?.state === 'open' && server?.alive;
      const data = ok ? server!.gossip.blob(this.now, hash) : null;
      m.gossip.handleFetchResult(this.now, requestId, data ? data.slice() : null);
      this.drive(m);
    });
  }

  #linksOf(key: string): Link[] {
    const out: Link[] = [];
    for (const l of this.#links.values()) if (l.a === key || l.b === key) out.push(l);
    return out;
  }

  #latency(a: string, b: string): number {
    const r = new Rng(`${this.#o.seed}/latency/${pairKey(a, b)}`);
    const [lo, hi] = this.#o.latencyMs;
    return lo + r.next() * (hi - lo);
  }

  #uniform([lo, hi]: [number, number]): number {
    return lo + this.rng.next() * (hi - lo);
  }
}

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
