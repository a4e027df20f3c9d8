/**
 * Large payloads: announced by hash (a small signed message travels the tree), fetched by the
 * host over a stream from a neighbour that has the bytes, checked against the hash, then
 * delivered and announced on. A node announces a blob only once it holds it (store and forward),
 * so whoever sent us an announcement or an IHAVE for it can serve it.
 *
 * `BlobStore` keeps blobs for serving (bounded in bytes, oldest out first); `BlobFetcher` runs
 * one fetch per hash at a time, trying the sources it learns in turn.
 */
import { toHex } from '@srmudp/wire';
import type { Timer, TimerQueue } from './timers.js';

interface Held {
  data: Uint8Array;
  expires: number;
}

export class BlobStore {
  readonly #blobs = new Map<string, Held>();
  readonly #maxBytes: number;
  readonly #keepMs: number;
  #bytes = 0;

  constructor(maxBytes: number, keepMs: number) {
    this.#maxBytes = maxBytes;
    this.#keepMs = keepMs;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get(hashHex: string, now?: number): Uint8Array | undefined {
    const h = this.#blobs.get(hashHex);
    if (h && now !== undefined) h.expires = Math.max(h.expires, now + this.#keepMs);
    return h?.data;
  }

  has(hashHex: string): boolean {
    return this.#blobs.has(hashHex);
  }

  put(hashHex: string, data: Uint8Array, now: number): void {
    const old = this.#blobs.get(hashHex);
    if (old) {
      old.expires = now + this.#keepMs;
      return;
    }
    this.#blobs.set(hashHex, { data, expires: now + this.#keepMs });
    this.#bytes += data.length;
    // Over budget: oldest first (Map order is insertion order), never the one just added.
    for (const [k, h] of this.#blobs) {
      if (this.#bytes <= this.#maxBytes || k === hashHex) break;
      this.#blobs.delete(k);
      this.#bytes -= h.data.length;
    }
  }

  sweep(now: number): void {
    for (const [k, h] of this.#blobs) {
      if (h.expires <= now) {
        this.#blobs.delete(k);
        this.#bytes -= h.data.length;
      }
    }
  }
}

export interface FetchJob {
  readonly hash: Uint8Array;
  readonly hashHex: string;
  readonly size: number;
  /** sources not tried yet, in the order we learnt them */
  readonly sources: string[];
  readonly tried: Set<string>;
  /** ids (hex) of the messages waiting for this blob */
  readonly waiting: Set<string>;
  current: { requestId: number; peerKey: string; timer: Timer } | null;
  lastActivity: number;
}

export type FetchRequest = { requestId: number; peerKey: string; hash: Uint8Array; size: number };

export class BlobFetcher {
  readonly #jobs = new Map<string, FetchJob>();
  readonly #byRequest = new Map<number, FetchJob>();
  readonly #timers: TimerQueue;
  readonly #timeoutMs: number;
  /** starts a request (the instance emits the 'fetch' event) */
  readonly #start: (r: FetchRequest) => void;
  /** whether a peer can be asked (connection up, not banned) */
  readonly #canAsk: (peerKey: string) => boolean;
  #nextRequestId = 1;

  constructor(
    timers: TimerQueue,
    timeoutMs: number,
    start: (r: FetchRequest) => void,
    canAsk: (peerKey: string) => boolean,
  ) {
    this.#timers = timers;
    this.#timeoutMs = timeoutMs;
    this.#start = start;
    this.#canAsk = canAsk;
  }

  get size(): number {
    return this.#jobs.size;
  }

  job(hashHex: string): FetchJob | undefined {
    return this.#jobs.get(hashHex);
  }

  /** A message `idHex` needs blob `hash`; `source` announced it. */
  want(now: number, hash: Uint8Array, size: number, idHex: string, source: string): void {
    const hashHex = toHex(hash);
    let j = this.#jobs.get(hashHex);
    if (!j) {
      j = {
        hash: hash.slice(),
        hashHex,
        size,
        sources: [],
        tried: new Set(),
        waiting: new Set(),
        current: null,
        lastActivity: now,
      };
      this.#jobs.set(hashHex, j);
    }
    j.waiting.add(idHex);
    this.addSource(now, hashHex, source);
  }

  /** Another neighbour has the blob (a duplicate announcement or an IHAVE). */
  addSource(now: number, hashHex: string, source: string): void {
    const j = this.#jobs.get(hashHex);
    if (!j || j.tried.has(source) || j.sources.includes(source) || j.current?.peerKey === source) return;
    j.sources.push(source);
    if (!j.current) this.#next(now, j);
  }

  /**
   * The host's answer to a request. Returns the job and what to do: `ok` (bytes match), `bad`
   * (bytes do not match: penalise `peerKey`), `retry` (no bytes: the next source was asked), or
   * null for an unknown or superseded request.
   */
  result(
    now: number,
    requestId: number,
    data: Uint8Array | null,
    matches: (job: FetchJob, data: Uint8Array) => boolean,
  ): { job: FetchJob; outcome: 'ok' | 'bad' | 'retry'; peerKey: string } | null {
    const j = this.#byRequest.get(requestId);
    if (!j?.current || j.current.requestId !== requestId) return null;
    const peerKey = j.current.peerKey;
    this.#finish(j);
    j.lastActivity = now;
    if (data !== null && matches(j, data)) {
      this.#jobs.delete(j.hashHex);
      return { job: j, outcome: 'ok', peerKey };
    }
    this.#next(now, j);
    return { job: j, outcome: data === null ? 'retry' : 'bad', peerKey };
  }

  /** A neighbour is gone: its request fails over to the next source. */
  peerGone(now: number, peerKey: string): void {
    for (const j of this.#jobs.values()) {
      const i = j.sources.indexOf(peerKey);
      if (i >= 0) j.sources.splice(i, 1);
      if (j.current?.peerKey === peerKey) {
        this.#finish(j);
        this.#next(now, j);
      }
    }
  }

  /** Drops jobs idle for `idleMs` with no source left (their messages have left the cache). */
  sweep(now: number, idleMs: number): FetchJob[] {
    const gone: FetchJob[] = [];
    for (const j of this.#jobs.values()) {
      if (!j.current && now - j.lastActivity >= idleMs) {
        this.#jobs.delete(j.hashHex);
        gone.push(j);
      }
    }
    return gone;
  }

  #finish(j: FetchJob): void {
    if (!j.current) return;
    this.#timers.cancel(j.current.timer);
    this.#byRequest.delete(j.current.requestId);
    j.tried.add(j.current.peerKey);
    j.current = null;
  }

  #next(now: number, j: FetchJob): void {
    while (j.sources.length > 0) {
      const peerKey = j.sources.shift()!;
      if (j.tried.has(peerKey) || !this.#canAsk(peerKey)) continue;
      const requestId = this.#nextRequestId++;
      const timer = this.#timers.schedule(now + this.#timeoutMs, (t) => {
        if (j.current?.requestId !== requestId) return;
        this.#finish(j);
        j.lastActivity = t;
        this.#next(t, j);
      });
      j.current = { requestId, peerKey, timer };
      j.lastActivity = now;
      this.#byRequest.set(requestId, j);
      this.#start({ requestId, peerKey, hash: j.hash, size: j.size });
      return;
    }
  }
}
