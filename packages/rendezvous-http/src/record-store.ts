import { isRendezvousError, SequencedStore } from '@srmudp/rendezvous';
import { fromHex, toHex } from '@srmudp/wire';
import type { Client } from './client-address.js';
import { bump } from './counter.js';

/**
 * The server's storage: per peer id the newest verified record, kept as the exact bytes that were
 * checked at PUT, with what a GET needs beside them (expiry, retention), so serving never
 * re-verifies. The "highest seq wins" rule and the update notifications are SequencedStore's;
 * this class adds the bounds an attacker could otherwise push:
 * - retention: a record is kept until min(its expiresAt + skew, last PUT + maxLifetimeMs), then
 *   evicted (on read, by a periodic sweep, and before answering "full"); a republish of the same
 *   bytes refreshes it, so a live peer never loses its record;
 * - quota: one client (IPv4 address or IPv6 /64) holds at most maxPerClient records, one network
 *   (IPv4 /24 or IPv6 /48) at most maxPerPrefix; the client that last stored a record owns it;
 * - size: at most maxRecords records in all.
 */
export interface RecordStoreOptions {
  readonly maxRecords: number;
  readonly maxPerClient: number;
  readonly maxPerPrefix: number;
  readonly maxLifetimeMs: number;
  readonly clockSkewMs: number;
}

interface Meta {
  retainUntil: number;
  owner: string;
  prefix: string;
}

export type PutResult =
  | { readonly ok: true; readonly changed: boolean }
  | { readonly ok: false; readonly status: number; readonly code: string; readonly message: string };

function refusal(status: number, code: string, message: string): PutResult {
  return { ok: false, status, code, message };
}

export class RecordStore {
  readonly #values = new SequencedStore();
  readonly #meta = new Map<string, Meta>();
  readonly #perClient = new Map<string, number>();
  readonly #perPrefix = new Map<string, number>();
  readonly #o: RecordStoreOptions;
  evicted = 0;

  constructor(options: RecordStoreOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#meta.size;
  }

  /** Stores a verified record (the caller checked signature, peer id and expiry). */
  put(
    peerId: Uint8Array,
    bytes: Uint8Array,
    seq: number,
    expiresAt: number,
    client: Client,
    now: number,
  ): PutResult {
    const k = toHex(peerId);
    let meta = this.#meta.get(k);
    if (meta !== undefined && meta.retainUntil <= now) {
      this.#evict(peerId, k, meta);
      meta = undefined;
    }
    const moving = meta === undefined || meta.owner !== client.key || meta.prefix !== client.prefix;
    if (moving) {
      if ((this.#perClient.get(client.key) ?? 0) >= this.#o.maxPerClient)
        return refusal(
          429,
          'QUOTA_EXCEEDED',
          `${client.key} holds ${this.#o.maxPerClient} records, the most one client may`,
        );
      if ((this.#perPrefix.get(client.prefix) ?? 0) >= this.#o.maxPerPrefix)
        return refusal(
          429,
          'QUOTA_EXCEEDED',
          `${client.prefix} holds ${this.#o.maxPerPrefix} records, the most one network may`,
        );
      if (meta === undefined && this.#meta.size >= this.#o.maxRecords && this.sweep(now) === 0)
        return refusal(507, 'STORE_FULL', `store is full (${this.#o.maxRecords} records)`);
    }
    let changed: boolean;
    try {
      changed = this.#values.put(peerId, bytes, seq);
    } catch (error) {
      if (isRendezvousError(error, 'STALE_SEQUENCE')) return refusal(409, 'STALE_SEQUENCE', error.message);
      throw error;
    }
    const retainUntil = Math.min(expiresAt + this.#o.clockSkewMs, now + this.#o.maxLifetimeMs);
    if (meta === undefined) {
      meta = { retainUntil, owner: '', prefix: '' };
      this.#meta.set(k, meta);
    } else if (changed) meta.retainUntil = retainUntil;
    // The same record again (a republish) keeps it longer.
    else meta.retainUntil = Math.max(meta.retainUntil, retainUntil);
    if (moving) this.#own(meta, client);
    return { ok: true, changed };
  }

  #own(m: Meta, client: Client): void {
    if (m.owner !== '') {
      bump(this.#perClient, m.owner, -1);
      bump(this.#perPrefix, m.prefix, -1);
    }
    m.owner = client.key;
    m.prefix = client.prefix;
    bump(this.#perClient, m.owner, 1);
    bump(this.#perPrefix, m.prefix, 1);
  }

  #evict(peerId: Uint8Array, k: string, m: Meta): void {
    this.#values.delete(peerId);
    this.#meta.delete(k);
    bump(this.#perClient, m.owner, -1);
    bump(this.#perPrefix, m.prefix, -1);
    this.evicted++;
  }

  /** The stored bytes while they are retained, else null (and the record is evicted). */
  get(peerId: Uint8Array, now: number): Uint8Array | null {
    const k = toHex(peerId);
    const m = this.#meta.get(k);
    if (m === undefined) return null;
    if (m.retainUntil <= now) {
      this.#evict(peerId, k, m);
      return null;
    }
    return this.#values.get(peerId);
  }

  seq(peerId: Uint8Array): number | undefined {
    return this.#values.seq(peerId);
  }

  /** Evicts every record past its retention; returns how many. */
  sweep(now: number): number {
    let n = 0;
    for (const [k, m] of this.#meta) {
      if (m.retainUntil <= now) {
        this.#evict(fromHex(k) as Uint8Array, k, m);
        n++;
      }
    }
    return n;
  }

  /** Calls `listener` with every new record of `peerId`; returns the unsubscribe function. */
  subscribe(peerId: Uint8Array, listener: (bytes: Uint8Array) => void): () => void {
    return this.#values.subscribe(peerId, listener);
  }
}
