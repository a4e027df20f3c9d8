/**
 * Plumtree's lazy push, batched: message ids for lazy neighbours are collected per (neighbour,
 * topic) and sent as one IHAVE every `ihaveIntervalMs` (Plumtree §3.6 suggests batching; 5–20 ms
 * costs little repair delay next to the graft timer and turns n announcements into one frame).
 */
import { encodeFrame, type IHaveItem, MAX_IHAVE_ITEMS } from './codec.js';
import type { Timer, TimerQueue } from './timers.js';

interface Batch {
  peerKey: string;
  topic: Uint8Array;
  topicKey: string;
  items: IHaveItem[];
}

export class IHaveQueue {
  readonly #batches = new Map<string, Batch>();
  readonly #timers: TimerQueue;
  readonly #intervalMs: number;
  readonly #send: (peerKey: string, bytes: Uint8Array) => void;
  /** whether `peerKey` is still a neighbour in the topic when the batch goes out */
  readonly #stillNeighbour: (topicKey: string, peerKey: string) => boolean;
  #timer: Timer | null = null;

  constructor(
    timers: TimerQueue,
    intervalMs: number,
    send: (peerKey: string, bytes: Uint8Array) => void,
    stillNeighbour: (topicKey: string, peerKey: string) => boolean,
  ) {
    this.#timers = timers;
    this.#intervalMs = intervalMs;
    this.#send = send;
    this.#stillNeighbour = stillNeighbour;
  }

  add(
    now: number,
    peerKey: string,
    topic: Uint8Array,
    topicKey: string,
    id: Uint8Array,
    round: number,
  ): void {
    const k = peerKey + topicKey;
    let b = this.#batches.get(k);
    if (!b) {
      b = { peerKey, topic, topicKey, items: [] };
      this.#batches.set(k, b);
    }
    b.items.push({ id, round });
    if (this.#timer === null) this.#timer = this.#timers.schedule(now + this.#intervalMs, () => this.flush());
  }

  flush(): void {
    this.#timers.cancel(this.#timer);
    this.#timer = null;
    for (const b of this.#batches.values()) {
      if (!this.#stillNeighbour(b.topicKey, b.peerKey)) continue;
      for (let i = 0; i < b.items.length; i += MAX_IHAVE_ITEMS) {
        const items = b.items.slice(i, i + MAX_IHAVE_ITEMS);
        this.#send(b.peerKey, encodeFrame({ type: 'ihave', topic: b.topic, items }));
      }
    }
    this.#batches.clear();
  }

  get pending(): number {
    return this.#batches.size;
  }
}
