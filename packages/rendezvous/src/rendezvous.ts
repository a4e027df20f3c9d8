// The public entry point; its halves live in their own files: publisher.ts (signing and per-backend
// pacing), resolver.ts (asking, verifying, choosing), watch.ts (following a record), operations.ts
// (what close() aborts, and the stats).
import type { RendezvousBackend } from './backend.js';
import { isRendezvousBackend } from './backend.js';
import { encodeCard } from './card.js';
import { throwIfAborted } from './errors.js';
import type { Locator } from './locator.js';
import type { RendezvousStats } from './operations.js';
import { Operations } from './operations.js';
import type { CandidateUpdate, PublishReport } from './publisher.js';
import { Publisher } from './publisher.js';
import type { DecodedRecord, VerifyOptions } from './record.js';
import { DEFAULT_CLOCK_SKEW_MS } from './record.js';
import { RecordCache } from './record-cache.js';
import type { ResolveResult, ResolveTarget } from './resolver.js';
import { normalizeTarget, Resolver } from './resolver.js';
import type { WatchOptions } from './watch.js';
import { watchRecords } from './watch.js';

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
  /**
   * Ed25519 verification of resolved records (signature, message, public key) instead of
   * @noble/curves', e.g. node:crypto's: a resolve checks a record's signature up to three times
   * and noble's first verification in a process is slow (tens of ms before connect() can send).
   * Same contract as VerifyOptions.verify. Default: noble's ed25519.verify.
   */
  readonly verify?: VerifyOptions['verify'];
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
  readonly #backends: readonly RendezvousBackend[];
  readonly #ops = new Operations();
  readonly #stats: RendezvousStats = { published: 0, publishFailures: 0, resolves: 0, rejected: {} };
  readonly #publisher: Publisher;
  readonly #resolver: Resolver;
  readonly #random: () => number;

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
    this.#backends = [...options.backends];
    const now = options.now ?? Date.now;
    this.#publisher = new Publisher({
      backends: this.#backends,
      secretKey: options.secretKey,
      ttlMs: options.ttlMs,
      now,
      onError: options.onError ?? (() => {}),
      ops: this.#ops,
      stats: this.#stats,
    });
    this.peerId = this.#publisher.peerId;
    this.#resolver = new Resolver({
      backends: this.#backends,
      cache: new RecordCache(),
      now,
      clockSkewMs: options.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
      timeoutMs: options.resolveTimeoutMs ?? 10_000,
      ops: this.#ops,
      stats: this.#stats,
      ...(options.verify ? { verify: options.verify } : {}),
    });
    this.#random = options.random ?? Math.random;
  }

  get backends(): readonly RendezvousBackend[] {
    return [...this.#backends];
  }

  /** The newest record this node signed, if any. */
  current(): DecodedRecord | undefined {
    return this.#publisher.current();
  }

  stats(): RendezvousStats {
    return { ...this.#stats, rejected: { ...this.#stats.rejected } };
  }

  /**
   * Signs a record of `update` without publishing it, from the same sequence counter as
   * publish(), so a record embedded in a card never shares a seq with a published one (which
   * resolvers would refuse as an equivocation). For cards that carry candidates (manual case).
   */
  sign(update: CandidateUpdate, options: { ttlMs?: number } = {}): DecodedRecord {
    this.#ops.checkOpen();
    const ttl = options.ttlMs ?? this.#publisher.ttlMs;
    if (!Number.isSafeInteger(ttl) || ttl < 0)
      throw new RangeError(`"ttlMs" expected a non-negative integer, got ${String(ttl)}`);
    return this.#publisher.sign(update, ttl, false);
  }

  /**
   * Publishes the candidates. Signs a new record when they changed (or the current record is past
   * half its lifetime), then puts it on every backend that is not inside its minimum interval; the
   * others get it as soon as their interval allows ('deferred' in the report).
   */
  async publish(update: CandidateUpdate, options: { signal?: AbortSignal } = {}): Promise<PublishReport> {
    this.#ops.checkOpen();
    throwIfAborted(options.signal);
    return this.#publisher.publish(update, options.signal);
  }

  /** Locators of every backend this node published to (or would publish to). */
  locators(): Locator[] {
    return this.#publisher.locators();
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
    const current = this.#publisher.current();
    if (embed && options.record === undefined && current === undefined)
      throw new TypeError(
        'publish() before card() (or pass "record" from sign()) so the card can carry a record',
      );
    return encodeCard({
      peerId: this.peerId,
      locators,
      ...(options.record !== undefined
        ? { record: options.record }
        : embed && current
          ? { record: current.bytes }
          : {}),
      ...(options.name !== undefined ? { name: options.name } : {}),
      ...(options.app !== undefined ? { app: options.app } : {}),
    });
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
    this.#ops.checkOpen();
    throwIfAborted(options.signal);
    return this.#resolver.resolve(normalizeTarget(target), options);
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
    this.#ops.checkOpen();
    const t = normalizeTarget(target);
    yield* watchRecords(
      {
        resolver: this.#resolver,
        resolve: (x, o) => this.resolve(x, o),
        random: this.#random,
        ops: this.#ops,
      },
      t,
      options,
    );
  }

  /** Stops timers, aborts pending work and closes every backend. Idempotent. */
  async close(): Promise<void> {
    if (!this.#ops.close()) return;
    await this.#publisher.stop();
    await Promise.allSettled(this.#backends.map((b) => b.close()));
  }
}
