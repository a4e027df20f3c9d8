import { type Address, addressKey, canonicalAddress, GenerationalMap } from '@srmudp/wire';
import { NodeError } from './errors.js';
import type { Timer } from './timer-queue.js';

/**
 * Dialling a card sends handshake datagrams to every address it lists, and cards come from
 * strangers (a chat hello carries up to 64). Without bounds a 999-byte record listing 125
 * third-party addresses made a node send 4 datagrams to each, again on every redial: a
 * reflector (issue 22, item 6). Two bounds, both here:
 * - a dial tries at most {@link MAX_DIAL_CANDIDATES} distinct addresses (a node publishes at
 *   most 8 candidates, so an honest card never has more);
 * - first contact to addresses no connection has come through yet is paced by a token bucket
 *   over the whole node (`burst` addresses at once, then `perSecond`); addresses a connection
 *   was established through are free.
 */
export const MAX_DIAL_CANDIDATES = 8;
/** Validated addresses are remembered in two generations of this many: the last 2,048 to 4,096. */
const VALIDATED_GENERATION = 2048;

/** Distinct addresses (canonical IP text), in order, at most {@link MAX_DIAL_CANDIDATES}. */
export function dialAddresses(addresses: readonly Address[]): Address[] {
  const out: Address[] = [];
  const seen = new Set<string>();
  for (const a of addresses) {
    const c = canonicalAddress(a);
    if (seen.has(addressKey(c))) continue;
    seen.add(addressKey(c));
    out.push(c);
    if (out.length === MAX_DIAL_CANDIDATES) break;
  }
  return out;
}

interface Waiter {
  readonly cost: number;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class DialPacer {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #now: () => number;
  /** Addresses connections came through (a Set trimmed at its oldest entry cost 1-2 µs per new
   * connection at 4,096: {@link GenerationalMap}). */
  readonly #validated = new GenerationalMap<string, true>(VALIDATED_GENERATION);
  readonly #queue: Waiter[] = [];
  #tokens: number;
  #at: number;
  readonly #after: (ms: number, fn: () => void) => Timer;
  #timer: Timer | null = null;
  #closed = false;

  /** `after`: the driver's timers (the node's one loop runs them). */
  constructor(options: {
    after: (ms: number, fn: () => void) => Timer;
    burst?: number;
    perSecond?: number;
    now?: () => number;
  }) {
    this.#after = options.after;
    this.#burst = options.burst ?? 32;
    this.#perMs = (options.perSecond ?? 8) / 1000;
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.#burst;
    this.#at = this.#now();
  }

  /** An address a connection was established through: dialling it again costs nothing. */
  validated(address: Address): void {
    // kept flat: the key as addressKey builds it is a rope (host, ':' and port apart, ~85 bytes
    // where the flat text takes 32), and there is one entry per connection (issue 19); join()
    // returns a flat string
    const k = addressKey(canonicalAddress(address)).split(':').join(':');
    this.#validated.set(k, true);
  }

  /** Waits (first come, first served) until the unvalidated addresses of a dial may be contacted. */
  admit(addresses: readonly Address[], signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(new NodeError('NODE_CLOSED', 'the node is closed'));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const cost = Math.min(this.#burst, addresses.filter((a) => !this.#validated.has(addressKey(a))).length);
    if (cost === 0) return Promise.resolve(); // every address already validated: not queued
    this.#refill();
    if (this.#queue.length === 0 && this.#tokens >= cost) {
      this.#tokens -= cost;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#queue.indexOf(w);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(signal?.reason);
      };
      const w: Waiter = {
        cost,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(w);
      this.#arm();
    });
  }

  #refill(): void {
    const now = this.#now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
  }

  #arm(): void {
    if (this.#timer !== null || this.#queue.length === 0) return;
    const head = this.#queue[0] as Waiter;
    const wait = Math.max(0, Math.ceil((head.cost - this.#tokens) / this.#perMs));
    this.#timer = this.#after(wait, () => {
      this.#timer = null;
      this.#refill();
      while (this.#queue.length > 0 && this.#tokens >= (this.#queue[0] as Waiter).cost) {
        const w = this.#queue.shift() as Waiter;
        this.#tokens -= w.cost;
        w.resolve();
      }
      this.#arm();
    });
  }

  /** Rejects every waiting dial (the node is closing). */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = null;
    for (const w of this.#queue.splice(0)) w.reject(new NodeError('NODE_CLOSED', 'the node was closed'));
  }
}
