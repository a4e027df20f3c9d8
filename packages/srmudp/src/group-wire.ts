// The blob exchange of groups on the connections' façade channels (channels.ts): gossip announces
// a large payload by its hash and fetches it from the neighbour that announced it.
//   request (CHANNEL.blobRequest): requestId u32 | SHA-256 hash (32 bytes)
//   reply   (CHANNEL.blobReply):   requestId u32 | found u8 | blob (when found)
// A neighbour is served at most BLOB_REQUESTS_PER_SECOND requests a second; a reply is taken only
// from the peer that was asked, and only within gossip's fetch timeout (after it gossip has asked
// the next source, so a neighbour that never answers leaves nothing behind).

import type { Gossip } from '@srmudp/gossip';
import { keyToHex } from '@srmudp/wire';
import { CHANNEL } from './channels.js';
import type { Connection } from './connection.js';

/** Blob requests served per neighbour per second (each reply may be up to 16 MiB). */
const BLOB_REQUESTS_PER_SECOND = 8;
const REQUEST_BYTES = 36;
const REPLY_HEADER = 5;

export class BlobExchange {
  /** requests under way, oldest first: request id → the peer asked (hex), when */
  readonly #fetches = new Map<number, { peer: string; at: number }>();
  /** requests served in the current second, per peer */
  readonly #served = new Map<string, { at: number; count: number }>();

  constructor(private readonly gossip: Gossip) {}

  /** Asks `conn` (gossip's `fetch` event) for the blob of `hash`; none: the fetch fails at once. */
  request(now: number, conn: Connection | undefined, requestId: number, hash: Uint8Array): void {
    this.#forgetTimedOut(now);
    if (!conn) {
      this.gossip.handleFetchResult(now, requestId, null);
      return;
    }
    const body = new Uint8Array(REQUEST_BYTES);
    new DataView(body.buffer).setUint32(0, requestId);
    body.set(hash, 4);
    this.#fetches.set(requestId, { peer: keyToHex(conn.remoteKey), at: now });
    conn.sendInternal(CHANNEL.blobRequest, body);
  }

  /** A request from `conn`, a neighbour (only neighbours fetch). */
  serve(now: number, conn: Connection, body: Uint8Array): void {
    if (body.length !== REQUEST_BYTES) return;
    const hex = keyToHex(conn.remoteKey);
    // at most a few requests a second per neighbour
    const sec = Math.floor(now / 1000);
    const w = this.#served.get(hex);
    if (w && w.at === sec && w.count >= BLOB_REQUESTS_PER_SECOND) return;
    if (w && w.at === sec) w.count++;
    else this.#served.set(hex, { at: sec, count: 1 });
    const data = this.gossip.blob(now, body.subarray(4));
    const reply = new Uint8Array(REPLY_HEADER + (data?.length ?? 0));
    reply.set(body.subarray(0, 4));
    reply[4] = data ? 1 : 0;
    if (data) reply.set(data, REPLY_HEADER);
    conn.sendInternal(CHANNEL.blobReply, reply);
  }

  /** A reply on `conn`. */
  reply(now: number, conn: Connection, body: Uint8Array): void {
    if (body.length < REPLY_HEADER) return;
    const id = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0);
    // only the peer we asked can answer, and only while gossip waits for it
    this.#forgetTimedOut(now);
    if (this.#fetches.get(id)?.peer !== keyToHex(conn.remoteKey)) return;
    this.#fetches.delete(id);
    this.gossip.handleFetchResult(now, id, body[4] === 1 ? body.slice(REPLY_HEADER) : null);
  }

  /** Requests under way (bounded by what gossip fetches within its fetch timeout). */
  get pending(): number {
    return this.#fetches.size;
  }

  /**
   * Forgets the requests older than gossip's fetch timeout: gossip has given up on them and asked
   * the next source (it says nothing to us), so an answer now would be refused there anyway.
   * Oldest first (insertion order), stopping at the first one still waited for.
   */
  #forgetTimedOut(now: number): void {
    const timeoutMs = this.gossip.options.fetchTimeoutMs;
    for (const [id, f] of this.#fetches) {
      if (now - f.at < timeoutMs) return;
      this.#fetches.delete(id);
    }
  }

  /** The neighbour `hex` is gone: its fetches fail, its request count is forgotten. */
  lost(now: number, hex: string): void {
    this.#served.delete(hex);
    for (const [id, f] of this.#fetches) {
      if (f.peer === hex) {
        this.#fetches.delete(id);
        this.gossip.handleFetchResult(now, id, null);
      }
    }
  }
}
