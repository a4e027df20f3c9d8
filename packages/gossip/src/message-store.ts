/**
 * What this node knows about broadcast messages, across topics:
 * - seen ids, kept `maxMessageAgeMs + maxClockSkewMs`: a message older than the replay window is
 *   refused by its timestamp, a younger one is recognised here, so a replay is never delivered twice;
 * - full messages, kept `messageCacheMs`, to answer grafts and to announce to new neighbours.
 * Both expire in insertion order (their lifetimes are constant), so sweeping is a queue walk.
 */
import type { SignedMessage } from './codec.js';

export interface StoredMessage {
  readonly id: Uint8Array;
  readonly idHex: string;
  readonly topicKey: string;
  readonly message: SignedMessage;
  /** hops from the origin when it reached us (0 for our own) */
  readonly round: number;
  /** neighbour it came from (null for our own): the eager parent in the tree */
  from: string | null;
  readonly at: number;
  /** false while a blob announcement waits for its blob */
  complete: boolean;
  /** the tree optimisation was applied for it */
  optimised: boolean;
}

class ExpiringQueue {
  keys: string[] = [];
  times: number[] = [];
  head = 0;
  push(key: string, expires: number): void {
    this.keys.push(key);
    this.times.push(expires);
  }
  /** Pops keys expired at `now`; compacts now and then. */
  *expired(now: number): Generator<string> {
    while (this.head < this.keys.length && this.times[this.head]! <= now) {
      yield this.keys[this.head++]!;
    }
    if (this.head > 1024 && this.head * 2 > this.keys.length) {
      this.keys = this.keys.slice(this.head);
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }
}

export class MessageStore {
  readonly #seen = new Map<string, number>();
  readonly #seenQueue = new ExpiringQueue();
  readonly #cache = new Map<string, StoredMessage>();
  readonly #cacheQueue = new ExpiringQueue();
  readonly #seenMs: number;
  readonly #cacheMs: number;

  constructor(seenMs: number, cacheMs: number) {
    this.#seenMs = seenMs;
    this.#cacheMs = cacheMs;
  }

  get seenCount(): number {
    return this.#seen.size;
  }

  get cachedCount(): number {
    return this.#cache.size;
  }

  isSeen(idHex: string): boolean {
    return this.#seen.has(idHex);
  }

  markSeen(idHex: string, now: number): void {
    const expires = now + this.#seenMs;
    this.#seen.set(idHex, expires);
    this.#seenQueue.push(idHex, expires);
  }

  put(m: StoredMessage, now: number): void {
    this.#cache.set(m.idHex, m);
    this.#cacheQueue.push(m.idHex, now + this.#cacheMs);
  }

  get(idHex: string): StoredMessage | undefined {
    return this.#cache.get(idHex);
  }

  /** Up to `limit` most recent complete messages of a topic, oldest first. */
  recent(topicKey: string, limit: number): StoredMessage[] {
    if (limit <= 0) return [];
    const out: StoredMessage[] = [];
    for (const m of this.#cache.values()) if (m.topicKey === topicKey && m.complete) out.push(m);
    return out.length > limit ? out.slice(out.length - limit) : out;
  }

  sweep(now: number): string[] {
    for (const k of this.#seenQueue.expired(now)) {
      // A re-marked id has a later expiry in the map: only the last entry removes it.
      if ((this.#seen.get(k) ?? Infinity) <= now) this.#seen.delete(k);
    }
    const dropped: string[] = [];
    for (const k of this.#cacheQueue.expired(now)) {
      if (this.#cache.delete(k)) dropped.push(k);
    }
    return dropped;
  }
}
