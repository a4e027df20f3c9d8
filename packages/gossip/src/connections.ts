/**
 * The connections gossip holds, shared by all topics: who is up, who is being dialled, which
 * topics need each one, and the per-neighbour budgets and penalty score. A connection lives while
 * some topic uses it; the last release asks the host to close it. The table never holds more than
 * `capacity()` connections (the topics' active views plus `extraConnections`): a dial beyond it is
 * not started and an incoming connection beyond it is refused at once.
 */
import type { GossipOptions } from './config.js';
import type { DropCause, GossipEvent } from './events.js';
import type { Timer, TimerQueue } from './timers.js';
import { TokenBucket } from './token-bucket.js';

export interface Conn {
  readonly key: string;
  readonly peer: Uint8Array;
  state: 'dialing' | 'up';
  /** topic keys that need this connection */
  readonly users: Set<string>;
  /** an incoming connection no topic has claimed yet is dropped when this fires */
  linger: Timer | null;
  /** smoothed RTT from the host, if known */
  rttMs: number | null;
  readonly membershipBudget: TokenBucket;
  readonly graftBudget: TokenBucket;
  score: number;
  scoreAt: number;
}

export type WantResult = 'up' | 'dialing' | 'no-slot';

export class Connections {
  readonly #map = new Map<string, Conn>();
  readonly #options: GossipOptions;
  readonly #timers: TimerQueue;
  readonly #emit: (e: GossipEvent) => void;
  readonly #capacity: () => number;

  constructor(
    options: GossipOptions,
    timers: TimerQueue,
    emit: (e: GossipEvent) => void,
    capacity: () => number,
  ) {
    this.#options = options;
    this.#timers = timers;
    this.#emit = emit;
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#map.size;
  }

  capacity(): number {
    return this.#capacity();
  }

  get(key: string): Conn | undefined {
    return this.#map.get(key);
  }

  isUp(key: string): boolean {
    return this.#map.get(key)?.state === 'up';
  }

  values(): IterableIterator<Conn> {
    return this.#map.values();
  }

  #create(now: number, key: string, peer: Uint8Array, state: Conn['state']): Conn {
    const o = this.#options;
    const c: Conn = {
      key,
      peer,
      state,
      users: new Set(),
      linger: null,
      rttMs: null,
      membershipBudget: new TokenBucket(o.membershipRate, o.membershipBurst, now),
      graftBudget: new TokenBucket(o.graftRate, o.graftBurst, now),
      score: 0,
      scoreAt: now,
    };
    this.#map.set(key, c);
    return c;
  }

  /**
   * A topic needs a connection to `peer`: returns 'up' if one is up, 'dialing' if one is being
   * dialled (a 'neighbour_wanted' event is emitted for a new dial), 'no-slot' at capacity.
   */
  want(
    now: number,
    key: string,
    peer: Uint8Array,
    user: string,
    record: Uint8Array,
    introducer: Uint8Array | null,
  ): WantResult {
    const c = this.#map.get(key);
    if (c) {
      this.claim(key, user);
      return c.state;
    }
    if (this.#map.size >= this.#capacity()) return 'no-slot';
    const n = this.#create(now, key, peer, 'dialing');
    n.users.add(user);
    this.#emit({ type: 'neighbour_wanted', peer, record, introducer });
    return 'dialing';
  }

  /** The host reports a connection up. Returns the connection, or null when refused (at capacity). */
  up(now: number, key: string, peer: Uint8Array, onLinger: (now: number, key: string) => void): Conn | null {
    const c = this.#map.get(key);
    if (c) {
      c.state = 'up';
      return c;
    }
    if (this.#map.size >= this.#capacity()) {
      this.#emit({ type: 'neighbour_dropped', peer, cause: 'busy' });
      return null;
    }
    const n = this.#create(now, key, peer, 'up');
    n.linger = this.#timers.schedule(now + this.#options.neighbourTimeoutMs, (t) => onLinger(t, key));
    return n;
  }

  /** A topic takes an existing connection into use (an incoming join or neighbour request). */
  claim(key: string, user: string): void {
    const c = this.#map.get(key);
    if (!c) return;
    c.users.add(user);
    if (c.linger) {
      this.#timers.cancel(c.linger);
      c.linger = null;
    }
  }

  /** A topic no longer needs the connection; the last user's release asks the host to close it. */
  release(key: string, user: string, cause: DropCause = 'unneeded'): void {
    const c = this.#map.get(key);
    if (!c?.users.delete(user) || c.users.size > 0) return;
    this.drop(key, cause);
  }

  /** Closes a connection no topic uses (e.g. after answering a request with a rejection). */
  dropIfUnused(key: string, cause: DropCause = 'unneeded'): void {
    const c = this.#map.get(key);
    if (c && c.users.size === 0) this.drop(key, cause);
  }

  /** Forgets the connection and asks the host to close it. */
  drop(key: string, cause: DropCause): void {
    const c = this.#map.get(key);
    if (!c) return;
    this.#timers.cancel(c.linger);
    this.#map.delete(key);
    this.#emit({ type: 'neighbour_dropped', peer: c.peer, cause });
  }

  /** The host reports the connection gone: forget it without an event. */
  remove(key: string): Conn | undefined {
    const c = this.#map.get(key);
    if (!c) return undefined;
    this.#timers.cancel(c.linger);
    this.#map.delete(key);
    return c;
  }

  /** Adds penalty points (decaying 1 per second); true when the neighbour crossed the threshold. */
  addPenalty(now: number, key: string, points: number): boolean {
    const c = this.#map.get(key);
    if (!c) return false;
    c.score = Math.max(0, c.score - (now - c.scoreAt) / 1000) + points;
    c.scoreAt = now;
    return c.score >= this.#options.penaltyThreshold;
  }
}
