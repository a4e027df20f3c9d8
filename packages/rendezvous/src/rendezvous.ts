// Why ~730 lines: the Rendezvous class is the one public entry point (publish with per-backend
// pacing, resolve with caching and verification, watch, sign); records, cards, locators, the
// record cache and the sequenced store are their own files.
import { equalBytes } from '@srmudp/wire';
import type { PublishResult, RendezvousBackend, Signer } from './backend.js';
import { createSigner, isRendezvousBackend } from './backend.js';
import type { ContactCard } from './card.js';
import { encodeCard, parseCard } from './card.js';
import type { RendezvousErrorCode } from './errors.js';
import { isRendezvousError, RendezvousError, throwIfAborted } from './errors.js';
import type { Locator } from './locator.js';
import { locatorKey, MAX_CARD_LOCATORS, normalizeLocator } from './locator.js';
import type { Candidate, DecodedRecord, Gate, HomeRelay, PeerRecord } from './record.js';
import { DEFAULT_CLOCK_SKEW_MS, decodeRecord, encodeRecordBody, signRecord, verifyRecord } from './record.js';
import { RecordCache } from './record-cache.js';
import { nextSequence } from './sequence.js';
import { linkSignals, sleep } from './sleep.js';

export interface RendezvousOptions {
  /** Backends to publish to and resolve through. Rendezvous owns them: close() closes them. */
  readonly backends: readonly RendezvousBackend[];
  /** The peer's Ed25519 secret key (32-byte seed); needed to publish, not to resolve. */
  readonly secretKey?: Uint8Array;
  /** Record lifetime, ms. Default: max(1 h, 2 x the longest republish interval). */
  readonly ttlMs?: number;
  readonly clockSkewMs?: number;
  /** Timeout of one resolve across all backends, ms. Default 10 000. */
  readonly resolveTimeoutMs?: number;
  /** Wall clock, ms since the Unix epoch. Default Date.now. */
  readonly now?: () => number;
  /** Uniform [0, 1) for poll jitter. Default Math.random. */
  readonly random?: () => number;
  /** Background (timer driven) publish failures; default: ignored (counted in stats()). */
  readonly onError?: (error: unknown, backend: string) => void;
}

export interface CandidateUpdate {
  readonly candidates: readonly Candidate[];
  readonly gates?: readonly Gate[];
  /** the peer's home relay (WebSocket relay): record version 2 */
  readonly homeRelay?: HomeRelay;
}

/** The update a record was signed from (to sign it again). */
function updateOf(r: PeerRecord): CandidateUpdate {
  return {
    candidates: r.candidates,
    ...(r.gates ? { gates: r.gates } : {}),
    ...(r.homeRelay ? { homeRelay: r.homeRelay } : {}),
  };
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

/** Whom to resolve: a card (text or parsed) or a peer id with locators. */
export type ResolveTarget =
  | string
  | ContactCard
  | { readonly peerId: Uint8Array; readonly locators: readonly Locator[]; readonly record?: Uint8Array };
export interface ResolveResult {
  readonly record: PeerRecord;
  readonly bytes: Uint8Array;
  /** Backend name, 'card' (embedded record) or 'cache' (a newer record this resolver saw before). */
  readonly source: string;
  /** Values that failed a check or backends that failed, with their typed errors. */
  readonly rejected: readonly { readonly source: string; readonly error: RendezvousError }[];
}
export interface WatchOptions {
  readonly signal?: AbortSignal;
  /** Poll interval on backends without push, ms. Default 30 000. */
  readonly intervalMs?: number;
  /** Upper bound of the backoff after failures, ms. Default 300 000. */
  readonly maxIntervalMs?: number;
}
export interface RendezvousStats {
  published: number;
  publishFailures: number;
  resolves: number;
  rejected: Partial<Record<RendezvousErrorCode | 'OTHER', number>>;
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

const ERROR_PRIORITY: readonly RendezvousErrorCode[] = [
  'RECORD_FORGED',
  'STALE_RECORD',
  'RECORD_EXPIRED',
  'RECORD_NOT_YET_VALID',
  'RECORD_MALFORMED',
  'RECORD_TOO_LARGE',
  'UNAVAILABLE',
  'PAYMENT_REQUIRED',
];

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

/**
 * Publisher and resolver of signed peer records over a set of backends.
 *
 * Publishing: `publish({ candidates })` signs a new record when the candidates changed (or the
 * current record is past half its lifetime) and puts it on every backend, never more often than a
 * backend's minPublishIntervalMs (a too-early publish is deferred and coalesced: the newest record
 * goes out when the interval has passed), and republishes on each backend's republishIntervalMs.
 *
 * Resolving: every locator a configured backend understands is asked in parallel; values are
 * verified (signature, expected peer id, expiry, sequence never going back vs this resolver's
 * cache) and the newest valid record wins. Backends are untrusted: they can withhold or replay,
 * never forge.
 */
export class Rendezvous {
  readonly peerId: Uint8Array | undefined;
  readonly #signer: Signer | undefined;
  readonly #secretKey: Uint8Array | undefined;
  readonly #states: BackendState[];
  readonly #cache = new RecordCache();
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #ttlMs: number;
  readonly #skew: number;
  readonly #resolveTimeoutMs: number;
  readonly #onError: (error: unknown, backend: string) => void;
  /** Aborts of the operations in flight, fired by close(): one set, not a listener per operation on a shared signal. */
  readonly #ops = new Set<() => void>();
  #current: DecodedRecord | undefined;
  #lastSeq: number | undefined;
  #closed = false;
  readonly #stats: RendezvousStats = { published: 0, publishFailures: 0, resolves: 0, rejected: {} };

  constructor(options: RendezvousOptions) {
    if (!Array.isArray(options.backends))
      throw new TypeError('"backends" expected an array of RendezvousBackend');
    options.backends.forEach((b, i) => {
      if (!isRendezvousBackend(b)) throw new TypeError(`"backends[${i}]" is not a RendezvousBackend`);
      if (b.specificationVersion !== 'v1') {
        throw new TypeError(
          `"backends[${i}]" implements specification ${String(b.specificationVersion)}, expected v1`,
        );
      }
    });
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
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    const longest = Math.max(0, ...options.backends.map((b) => b.capabilities.republishIntervalMs));
    this.#ttlMs = options.ttlMs ?? Math.max(3_600_000, 2 * longest);
    this.#skew = options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
    this.#resolveTimeoutMs = options.resolveTimeoutMs ?? 10_000;
    this.#onError = options.onError ?? (() => {});
  }

  get backends(): readonly RendezvousBackend[] {
    return this.#states.map((s) => s.backend);
  }

  /** The newest record this node signed, if any. */
  current(): DecodedRecord | undefined {
    return this.#current;
  }

  stats(): RendezvousStats {
    return { ...this.#stats, rejected: { ...this.#stats.rejected } };
  }

  /** A signal for one operation: fires with the given signals, after `timeoutMs`, or on close(). */
  #link(
    signals: readonly (AbortSignal | undefined)[],
    timeoutMs?: number,
  ): { signal: AbortSignal; dispose: () => void } {
    const closed = new AbortController();
    const abort = () => closed.abort(new RendezvousError('CLOSED', 'Rendezvous is closed'));
    if (this.#closed) abort();
    else this.#ops.add(abort);
    const link = linkSignals([...signals, closed.signal], timeoutMs);
    return {
      signal: link.signal,
      dispose: () => {
        this.#ops.delete(abort);
        link.dispose();
      },
    };
  }

  #checkOpen(): void {
    if (this.#closed) throw new RendezvousError('CLOSED', 'Rendezvous is closed');
  }

  #sign(update: CandidateUpdate, ttlMs = this.#ttlMs, setCurrent = true): DecodedRecord {
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

  /**
   * Signs a record of `update` without publishing it, from the same sequence counter as
   * publish(), so a record embedded in a card never shares a seq with a published one (which
   * resolvers would refuse as an equivocation). For cards that carry candidates (manual case).
   */
  sign(update: CandidateUpdate, options: { ttlMs?: number } = {}): DecodedRecord {
    this.#checkOpen();
    const ttl = options.ttlMs ?? this.#ttlMs;
    if (!Number.isSafeInteger(ttl) || ttl < 0)
      throw new RangeError(`"ttlMs" expected a non-negative integer, got ${String(ttl)}`);
    return this.#sign(update, ttl, false);
  }

  /**
   * Publishes the candidates. Signs a new record when they changed (or the current record is past
   * half its lifetime), then puts it on every backend that is not inside its minimum interval; the
   * others get it as soon as their interval allows ('deferred' in the report).
   */
  async publish(update: CandidateUpdate, options: { signal?: AbortSignal } = {}): Promise<PublishReport> {
    this.#checkOpen();
    throwIfAborted(options.signal);
    const cur = this.#current;
    const now = this.#now();
    const fresh =
      cur !== undefined && sameContent(cur.record, update) && now < cur.record.issuedAt + this.#ttlMs / 2;
    const rec = fresh ? cur : this.#sign(update);
    const statuses = await Promise.all(this.#states.map((s) => this.#schedule(s, options.signal)));
    return { record: rec.record, bytes: rec.bytes, changed: !fresh, backends: statuses };
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
    if (this.#closed) return;
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
    if (this.#closed || this.#current === undefined) return;
    if (this.#now() < s.timerAt - 1) {
      this.#arm(s, s.timerAt); // the wait was longer than setTimeout allows
      return;
    }
    const cur = this.#current;
    // Re-sign when past half the lifetime so republished records never expire on the backend.
    if (this.#now() >= cur.record.issuedAt + this.#ttlMs / 2) {
      try {
        this.#sign(updateOf(cur.record));
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
    const link = this.#link([signal]);
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
        const c = this.#current.record;
        this.#sign(updateOf(c));
        status = await this.#putNow(s, signal, true);
      }
    }
    if (!this.#closed) {
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

  /** Locators of every backend this node published to (or would publish to). */
  locators(): Locator[] {
    const out: Locator[] = [];
    for (const s of this.#states) if (s.locator !== undefined) out.push(s.locator);
    return out;
  }

  /**
   * This node's contact card. `embedRecord` (default: true when a backend is 'manual' or no
   * locator is known) carries the current signed record, i.e. the candidates, in the card;
   * `record` embeds a given one instead (from sign(), e.g. with a longer lifetime).
   */
  card(
    options: {
      name?: string;
      /** the program the card is meant for (see ContactCard.app) */
      app?: string;
      embedRecord?: boolean;
      locators?: readonly Locator[];
      record?: Uint8Array;
    } = {},
  ): string {
    if (this.peerId === undefined) throw new TypeError('"secretKey" is required to make a card');
    const locators = options.locators ?? this.locators();
    const embed =
      options.embedRecord ?? (locators.length === 0 || locators.some((l) => l.backend === 'manual'));
    if (embed && options.record === undefined && this.#current === undefined)
      throw new TypeError(
        'publish() before card() (or pass "record" from sign()) so the card can carry a record',
      );
    return encodeCard({
      peerId: this.peerId,
      locators,
      ...(options.record !== undefined
        ? { record: options.record }
        : embed && this.#current
          ? { record: this.#current.bytes }
          : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.app !== undefined ? { app: options.app } : {}),
    });
  }

  #normalize(target: ResolveTarget): {
    peerId: Uint8Array;
    locators: readonly Locator[];
    record?: Uint8Array;
  } {
    if (typeof target === 'string') return parseCard(target);
    if (typeof target !== 'object' || target === null || !(target.peerId instanceof Uint8Array)) {
      throw new TypeError('"target" expected a contact card string or { peerId, locators }');
    }
    if (!Array.isArray(target.locators)) throw new TypeError('"target.locators" expected an array');
    // Locators given as objects get the checks a parsed card's have: canonical form (an http
    // locator reduced to its origin), malformed ones skipped, duplicates once, at most 8 asked.
    const locators: Locator[] = [];
    const seen = new Set<string>();
    for (const raw of target.locators) {
      const r = normalizeLocator(raw);
      if ('problem' in r || seen.has(locatorKey(r.locator))) continue;
      seen.add(locatorKey(r.locator));
      locators.push(r.locator);
      if (locators.length === MAX_CARD_LOCATORS) break;
    }
    return {
      peerId: target.peerId,
      locators,
      ...(target.record !== undefined ? { record: target.record } : {}),
    };
  }

  #count(error: unknown): void {
    const code = isRendezvousError(error) ? error.code : 'OTHER';
    this.#stats.rejected[code] = (this.#stats.rejected[code] ?? 0) + 1;
  }

  #sources(t: {
    peerId: Uint8Array;
    locators: readonly Locator[];
  }): { locator: Locator; backend: RendezvousBackend }[] {
    const out: { locator: Locator; backend: RendezvousBackend }[] = [];
    for (const locator of t.locators) {
      for (const { backend } of this.#states) {
        if (backend.name === locator.backend && (backend.canResolve?.(locator) ?? true)) {
          out.push({ locator, backend });
          break;
        }
      }
    }
    return out;
  }

  /**
   * Finds the newest valid record of a peer. Returns null when every source answered "nothing";
   * throws NO_BACKEND when no configured backend understands any locator (and the card carries no
   * record), otherwise the most telling typed error when no valid record was found.
   */
  async resolve(
    target: ResolveTarget,
    options: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<ResolveResult | null> {
    this.#checkOpen();
    throwIfAborted(options.signal);
    const t = this.#normalize(target);
    this.#stats.resolves++;
    const sources = this.#sources(t);
    if (sources.length === 0 && t.record === undefined) {
      throw new RendezvousError(
        'NO_BACKEND',
        `no configured backend can resolve locators [${t.locators.map((l) => l.backend).join(', ')}]`,
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#resolveTimeoutMs;
    const link = this.#link([options.signal], timeoutMs);
    const found: { source: string; bytes: Uint8Array }[] = [];
    const rejected: { source: string; error: RendezvousError }[] = [];
    if (t.record !== undefined) found.push({ source: 'card', bytes: t.record });
    try {
      await Promise.all(
        sources.map(async ({ locator, backend }) => {
          try {
            const bytes = await backend.resolve({ peerId: t.peerId, locator }, { signal: link.signal });
            if (bytes !== null) found.push({ source: backend.name, bytes });
          } catch (caught) {
            let error = caught;
            if (isRendezvousError(error, 'ABORTED') && !options.signal?.aborted && link.signal.aborted) {
              // Our own deadline or close() fired, not the caller's signal.
              error = this.#closed
                ? new RendezvousError('CLOSED', 'Rendezvous is closed')
                : new RendezvousError('UNAVAILABLE', `timed out after ${timeoutMs} ms`, { cause: caught });
            }
            this.#count(error);
            rejected.push({
              source: backend.name,
              error: isRendezvousError(error)
                ? error
                : new RendezvousError('UNAVAILABLE', String(error), { cause: error }),
            });
          }
        }),
      );
    } finally {
      link.dispose();
    }
    throwIfAborted(options.signal);
    const now = this.#now();
    const verified: { source: string; decoded: DecodedRecord }[] = [];
    for (const f of found) {
      try {
        verified.push({
          source: f.source,
          decoded: verifyRecord(f.bytes, { expectedPeerId: t.peerId, now, clockSkewMs: this.#skew }),
        });
      } catch (error) {
        this.#count(error);
        if (isRendezvousError(error)) rejected.push({ source: f.source, error });
        else throw error;
      }
    }
    verified.sort((a, b) => b.decoded.record.seq - a.decoded.record.seq);
    for (const v of verified) {
      try {
        const accepted = this.#cache.accept(v.decoded.bytes, {
          expectedPeerId: t.peerId,
          now,
          clockSkewMs: this.#skew,
        });
        return { record: accepted.record, bytes: accepted.bytes, source: v.source, rejected };
      } catch (error) {
        this.#count(error);
        if (isRendezvousError(error)) rejected.push({ source: v.source, error });
        else throw error;
      }
    }
    // Everything found was older than what this resolver already knows: the cached record is the
    // answer as long as it has not expired.
    const cached = this.#cache.get(t.peerId);
    if (cached !== undefined && rejected.some((r) => r.error.code === 'STALE_RECORD')) {
      try {
        verifyRecord(cached.bytes, { expectedPeerId: t.peerId, now, clockSkewMs: this.#skew });
        return { record: cached.record, bytes: cached.bytes, source: 'cache', rejected };
      } catch {
        // fall through: report the replay
      }
    }
    if (rejected.length === 0) return null;
    const first = [...rejected].sort((a, b) => rank(a.error.code) - rank(b.error.code))[0] as {
      source: string;
      error: RendezvousError;
    };
    throw new RendezvousError(first.error.code, `${first.source}: ${first.error.message}`, {
      cause: rejected.length > 1 ? new AggregateError(rejected.map((r) => r.error)) : first.error,
    });
  }

  /**
   * Yields the peer's newest record now and every newer one later. Push backends are followed
   * through their watch(); the others are polled every `intervalMs` with +-20 % jitter and
   * exponential backoff after failures. Ends when the signal fires or this Rendezvous closes.
   */
  async *watch(
    target: ResolveTarget,
    options: WatchOptions = {},
  ): AsyncGenerator<ResolveResult, void, undefined> {
    this.#checkOpen();
    const t = this.#normalize(target);
    const interval = options.intervalMs ?? 30_000;
    const maxInterval = Math.max(interval, options.maxIntervalMs ?? 300_000);
    const stop = new AbortController();
    const link = this.#link([options.signal, stop.signal]);
    const signal = link.signal;
    const queue: ResolveResult[] = [];
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    signal.addEventListener('abort', notify, { once: true });
    let lastSeq = -1;
    const offer = (r: ResolveResult) => {
      if (r.record.seq > lastSeq) {
        lastSeq = r.record.seq;
        queue.push(r);
        notify();
      }
    };
    const pollOnce = async (): Promise<boolean> => {
      try {
        const r = await this.resolve(t, { signal });
        if (r !== null) offer(r);
        return true;
      } catch (error) {
        return isRendezvousError(error, 'STALE_RECORD');
      }
    };
    const pushSources = this.#sources(t).filter(
      (s) => s.backend.capabilities.watch !== 'none' && s.backend.watch,
    );
    const loops: Promise<void>[] = [];
    for (const { backend, locator } of pushSources) {
      loops.push(
        (async () => {
          try {
            const it = backend.watch?.({ peerId: t.peerId, locator }, { signal });
            if (it === undefined) return;
            for await (const bytes of it) {
              try {
                const now = this.#now();
                const d = this.#cache.accept(bytes, {
                  expectedPeerId: t.peerId,
                  now,
                  clockSkewMs: this.#skew,
                });
                offer({ record: d.record, bytes: d.bytes, source: backend.name, rejected: [] });
              } catch (error) {
                this.#count(error);
              }
            }
          } catch (error) {
            if (!signal.aborted) this.#count(error);
          }
        })(),
      );
    }
    loops.push(
      (async () => {
        let delay = interval;
        while (!signal.aborted) {
          const ok = await pollOnce();
          delay = ok ? interval : Math.min(maxInterval, delay * 2);
          const jittered = delay * (0.8 + 0.4 * this.#random());
          try {
            await sleep(jittered, signal);
          } catch {
            return;
          }
        }
      })(),
    );
    try {
      while (true) {
        const next = queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (signal.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
      }
    } finally {
      // The consumer may have stopped early (break): stop the loops before returning.
      stop.abort();
      link.dispose();
      await Promise.allSettled(loops);
    }
  }

  /** Stops timers, aborts pending work and closes every backend. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const abort of [...this.#ops]) abort();
    for (const s of this.#states) {
      if (s.timer !== undefined) clearTimeout(s.timer);
      s.timer = undefined;
    }
    await Promise.allSettled(this.#states.map((s) => s.inFlight));
    await Promise.allSettled(this.#states.map((s) => s.backend.close()));
  }
}

/** setTimeout's limit (2^31 - 1 ms); a longer wait fires early and simply re-arms. */
const MAX_TIMER_MS = 2_147_483_647;

function rank(code: RendezvousErrorCode): number {
  const i = ERROR_PRIORITY.indexOf(code);
  return i < 0 ? ERROR_PRIORITY.length : i;
}
