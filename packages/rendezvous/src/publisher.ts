// The publishing half of Rendezvous: signing records from one sequence counter and putting them on
// every backend with per-backend pacing, coalescing, republishing and retry backoff.
import { equalBytes } from '@srmudp/wire';
import type { PublishResult, RendezvousBackend, Signer } from './backend.js';
import { createSigner } from './backend.js';
import { isRendezvousError } from './errors.js';
import type { Locator } from './locator.js';
import type { Operations, RendezvousStats } from './operations.js';
import type { Candidate, DecodedRecord, Gate, HomeRelay, PeerRecord } from './record.js';
import { decodeRecord, encodeRecordBody, signRecord, verifyRecord } from './record.js';
import { nextSequence } from './sequence.js';

export interface CandidateUpdate {
  readonly candidates: readonly Candidate[];
  readonly gates?: readonly Gate[];
  /** the peer's home relay (WebSocket relay): record version 2 */
  readonly homeRelay?: HomeRelay;
}
export type BackendPublishStatus =
  | { readonly backend: string; readonly status: 'published'; readonly locator: Locator }
  | { readonly backend: string; readonly status: 'deferred'; readonly at: number }
  | { readonly backend: string; readonly status: 'failed'; readonly error: unknown };
export interface PublishReport {
  readonly record: PeerRecord;
  readonly bytes: Uint8Array;
  /** False when the candidates equal the current record's and nothing was re-signed. */
  readonly changed: boolean;
  readonly backends: readonly BackendPublishStatus[];
}

interface BackendState {
  readonly backend: RendezvousBackend;
  lastPublishAt: number | undefined;
  publishedBytes: Uint8Array | undefined;
  locator: Locator | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  timerAt: number;
  inFlight: Promise<BackendPublishStatus> | undefined;
  /** Consecutive failed puts: the retry delay doubles with each (1 s, 2 s, … up to the republish interval). */
  failures: number;
  /** A newer record waits for the put in flight to finish. */
  dirty: boolean;
}

/** setTimeout's limit (2^31 - 1 ms); a longer wait fires early and simply re-arms. */
const MAX_TIMER_MS = 2_147_483_647;

function sameContent(a: PeerRecord, u: CandidateUpdate): boolean {
  try {
    const x = encodeRecordBody({ ...a, seq: 0, issuedAt: 0, expiresAt: 0 });
    const y = encodeRecordBody({
      peerId: a.peerId,
      seq: 0,
      issuedAt: 0,
      expiresAt: 0,
      candidates: u.candidates,
      ...(u.gates ? { gates: u.gates } : {}),
      ...(u.homeRelay ? { homeRelay: u.homeRelay } : {}),
    });
    return equalBytes(x, y);
  } catch {
    return false;
  }
}

/** The update a record was signed from (to sign it again). */
function updateOf(record: PeerRecord): CandidateUpdate {
  return {
    candidates: record.candidates,
    ...(record.gates ? { gates: record.gates } : {}),
    ...(record.homeRelay ? { homeRelay: record.homeRelay } : {}),
  };
}

export interface PublisherOptions {
  readonly backends: readonly RendezvousBackend[];
  readonly secretKey: Uint8Array | undefined;
  readonly ttlMs: number | undefined;
  readonly now: () => number;
  readonly onError: (error: unknown, backend: string) => void;
  readonly ops: Operations;
  readonly stats: RendezvousStats;
}

/** Signs this node's records and keeps every backend holding the newest one. */
export class Publisher {
  readonly peerId: Uint8Array | undefined;
  /** Record lifetime, ms. */
  readonly ttlMs: number;
  readonly #signer: Signer | undefined;
  readonly #secretKey: Uint8Array | undefined;
  readonly #states: BackendState[];
  readonly #now: () => number;
  readonly #onError: (error: unknown, backend: string) => void;
  readonly #ops: Operations;
  readonly #stats: RendezvousStats;
  #current: DecodedRecord | undefined;
  #lastSeq: number | undefined;

  constructor(options: PublisherOptions) {
    if (options.secretKey !== undefined) {
      this.#signer = createSigner(options.secretKey);
      this.#secretKey = options.secretKey.slice();
      this.peerId = this.#signer.publicKey;
    } else {
      this.#signer = undefined;
      this.#secretKey = undefined;
      this.peerId = undefined;
    }
    this.#states = options.backends.map((backend) => ({
      backend,
      lastPublishAt: undefined,
      publishedBytes: undefined,
      locator: undefined,
      timer: undefined,
      timerAt: 0,
      inFlight: undefined,
      failures: 0,
      dirty: false,
    }));
    this.#now = options.now;
    const longest = Math.max(0, ...options.backends.map((b) => b.capabilities.republishIntervalMs));
    this.ttlMs = options.ttlMs ?? Math.max(3_600_000, 2 * longest);
    this.#onError = options.onError;
    this.#ops = options.ops;
    this.#stats = options.stats;
  }

  /** The newest record this node signed, if any. */
  current(): DecodedRecord | undefined {
    return this.#current;
  }

  sign(update: CandidateUpdate, ttlMs = this.ttlMs, setCurrent = true): DecodedRecord {
    const secretKey = this.#secretKey;
    const peerId = this.peerId;
    if (secretKey === undefined || peerId === undefined) {
      throw new TypeError('"secretKey" is required to publish (pass it to new Rendezvous)');
    }
    const now = Math.floor(this.#now());
    const seq = nextSequence(this.#lastSeq, now);
    const record: PeerRecord = {
      peerId,
      seq,
      issuedAt: now,
      expiresAt: now + ttlMs,
      candidates: update.candidates.map((c) => ({ ...c })),
      ...(update.gates !== undefined && update.gates.length > 0
        ? { gates: update.gates.map((g) => ({ ...g })) }
        : {}),
      ...(update.homeRelay !== undefined
        ? { homeRelay: { url: update.homeRelay.url, peerId: update.homeRelay.peerId.slice() } }
        : {}),
    };
    const bytes = signRecord(record, secretKey);
    this.#lastSeq = seq;
    const decoded = decodeRecord(bytes);
    if (setCurrent) this.#current = decoded;
    return decoded;
  }

  /** Signs a new record when the candidates changed (or past half its lifetime) and schedules every backend. */
  async publish(update: CandidateUpdate, signal?: AbortSignal): Promise<PublishReport> {
    const cur = this.#current;
    const now = this.#now();
    const fresh =
      cur !== undefined && sameContent(cur.record, update) && now < cur.record.issuedAt + this.ttlMs / 2;
    const rec = fresh ? cur : this.sign(update);
    const statuses = await Promise.all(this.#states.map((s) => this.#schedule(s, signal)));
    return { record: rec.record, bytes: rec.bytes, changed: !fresh, backends: statuses };
  }

  /** Locators of every backend this node published to. */
  locators(): Locator[] {
    const out: Locator[] = [];
    for (const s of this.#states) if (s.locator !== undefined) out.push(s.locator);
    return out;
  }

  /** Stops the timers and waits for the puts in flight (close() has aborted them). */
  async stop(): Promise<void> {
    for (const s of this.#states) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
    }
    await Promise.allSettled(this.#states.map((s) => s.inFlight));
  }

  #schedule(s: BackendState, signal?: AbortSignal): Promise<BackendPublishStatus> {
    const now = this.#now();
    const min = s.backend.capabilities.minPublishIntervalMs;
    const earliest = s.lastPublishAt === undefined ? now : s.lastPublishAt + min;
    if (s.inFlight !== undefined) {
      // One put at a time per backend (Autonomi writes can take minutes); the newest record
      // follows when the put in flight is done and the interval allows.
      s.dirty = true;
      return Promise.resolve({ backend: s.backend.name, status: 'deferred', at: Math.max(earliest, now) });
    }
    if (earliest > now) {
      this.#arm(s, earliest);
      return Promise.resolve({ backend: s.backend.name, status: 'deferred', at: earliest });
    }
    return this.#putNow(s, signal);
  }

  #arm(s: BackendState, at: number): void {
    if (this.#ops.closed) return;
    if (s.timer !== undefined) {
      if (s.timerAt <= at) return;
      clearTimeout(s.timer);
    }
    s.timerAt = at;
    s.timer = setTimeout(
      () => {
        s.timer = undefined;
        void this.#onTimer(s);
      },
      Math.min(MAX_TIMER_MS, Math.max(0, at - this.#now())),
    );
    (s.timer as { unref?: () => void }).unref?.();
  }

  async #onTimer(s: BackendState): Promise<void> {
    if (this.#ops.closed || this.#current === undefined) return;
    if (this.#now() < s.timerAt - 1) {
      this.#arm(s, s.timerAt); // the wait was longer than setTimeout allows
      return;
    }
    const cur = this.#current;
    // Re-sign when past half the lifetime so republished records never expire on the backend.
    if (this.#now() >= cur.record.issuedAt + this.ttlMs / 2) {
      try {
        this.sign(updateOf(cur.record));
      } catch (error) {
        this.#onError(error, s.backend.name);
        return;
      }
      for (const other of this.#states) if (other !== s) void this.#schedule(other);
    }
    const r = await this.#schedule(s);
    if (r.status === 'failed') this.#onError(r.error, s.backend.name);
  }

  async #putNow(s: BackendState, signal?: AbortSignal, retried = false): Promise<BackendPublishStatus> {
    const rec = this.#current;
    const signer = this.#signer;
    if (rec === undefined || signer === undefined) throw new TypeError('nothing to publish');
    s.lastPublishAt = this.#now();
    const link = this.#ops.link([signal]);
    const run = (async (): Promise<BackendPublishStatus> => {
      try {
        const result: PublishResult = await s.backend.publish({ peerId: rec.record.peerId }, rec.bytes, {
          seq: rec.record.seq,
          signer,
          signal: link.signal,
        });
        s.publishedBytes = rec.bytes;
        s.locator = result.locator;
        this.#stats.published++;
        return { backend: s.backend.name, status: 'published', locator: result.locator };
      } catch (error) {
        this.#stats.publishFailures++;
        return { backend: s.backend.name, status: 'failed', error };
      } finally {
        link.dispose();
      }
    })();
    s.inFlight = run;
    let status = await run;
    s.inFlight = undefined;
    if (status.status === 'failed' && isRendezvousError(status.error, 'STALE_SEQUENCE') && !retried) {
      // The backend holds a newer seq (another device with this key, or our clock stepped back):
      // continue above it, once.
      const floor = await this.#storedSeq(s, signal);
      if (floor !== undefined && this.#current !== undefined) {
        this.#lastSeq = Math.max(this.#lastSeq ?? 0, floor);
        this.sign(updateOf(this.#current.record));
        status = await this.#putNow(s, signal, true);
      }
    }
    if (!this.#ops.closed) {
      const caps = s.backend.capabilities;
      if (status.status === 'failed' && !isRendezvousError(status.error, 'ABORTED')) {
        // Retry a failed put (server down, gateway error) with backoff instead of waiting a
        // whole republish interval; never faster than the backend allows.
        s.failures++;
        const backoff = Math.min(caps.republishIntervalMs, 1000 * 2 ** Math.min(s.failures - 1, 20));
        this.#arm(s, this.#now() + Math.max(caps.minPublishIntervalMs, backoff));
      } else {
        if (status.status === 'published') s.failures = 0;
        this.#arm(s, this.#now() + caps.republishIntervalMs);
      }
      if (s.dirty) {
        s.dirty = false;
        this.#arm(s, Math.max(this.#now(), (s.lastPublishAt ?? 0) + caps.minPublishIntervalMs));
      }
    }
    return status;
  }

  async #storedSeq(s: BackendState, signal?: AbortSignal): Promise<number | undefined> {
    if (this.peerId === undefined) return undefined;
    try {
      const locator = s.locator;
      const bytes = await s.backend.resolve(
        { peerId: this.peerId, ...(locator ? { locator } : {}) },
        signal ? { signal } : {},
      );
      if (bytes === null) return undefined;
      const { record } = verifyRecord(bytes, {
        expectedPeerId: this.peerId,
        now: this.#now(),
        clockSkewMs: Number.MAX_SAFE_INTEGER,
      });
      return record.seq;
    } catch {
      return undefined;
    }
  }
}
