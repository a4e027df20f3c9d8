// The resolving half of Rendezvous: asking every backend that understands a locator, verifying
// what they return against the expected peer id and this resolver's cache, and picking the newest.
import type { RendezvousBackend } from './backend.js';
import type { ContactCard } from './card.js';
import { parseCard } from './card.js';
import type { RendezvousErrorCode } from './errors.js';
import { isRendezvousError, RendezvousError, throwIfAborted } from './errors.js';
import type { Locator } from './locator.js';
import { locatorKey, MAX_CARD_LOCATORS, normalizeLocator } from './locator.js';
import type { Operations, RendezvousStats } from './operations.js';
import { countRejected } from './operations.js';
import type { DecodedRecord, PeerRecord, VerifyOptions } from './record.js';
import { verifyRecord } from './record.js';
import type { RecordCache } from './record-cache.js';

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

/** A target with its locators checked and canonical. */
export interface ResolvedTarget {
  readonly peerId: Uint8Array;
  readonly locators: readonly Locator[];
  readonly record?: Uint8Array;
}

/** Which error a failed resolve reports when several sources failed: the most telling first. */
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

function rank(code: RendezvousErrorCode): number {
  const i = ERROR_PRIORITY.indexOf(code);
  return i < 0 ? ERROR_PRIORITY.length : i;
}

export function normalizeTarget(target: ResolveTarget): ResolvedTarget {
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

export interface ResolverOptions {
  readonly backends: readonly RendezvousBackend[];
  readonly cache: RecordCache;
  readonly now: () => number;
  readonly clockSkewMs: number;
  readonly timeoutMs: number;
  readonly ops: Operations;
  readonly stats: RendezvousStats;
  /** Ed25519 verification for every record check (default: noble's) */
  readonly verify?: VerifyOptions['verify'];
}

export class Resolver {
  readonly #o: ResolverOptions;

  constructor(options: ResolverOptions) {
    this.#o = options;
  }

  /** The first configured backend that understands each locator. */
  sources(t: ResolvedTarget): { locator: Locator; backend: RendezvousBackend }[] {
    const out: { locator: Locator; backend: RendezvousBackend }[] = [];
    for (const locator of t.locators) {
      for (const backend of this.#o.backends) {
        if (backend.name === locator.backend && (backend.canResolve?.(locator) ?? true)) {
          out.push({ locator, backend });
          break;
        }
      }
    }
    return out;
  }

  /** Verifies a record of `peerId` and keeps it when newer than the cached one (throws otherwise). */
  accept(bytes: Uint8Array, peerId: Uint8Array): DecodedRecord {
    return this.#o.cache.accept(bytes, {
      expectedPeerId: peerId,
      now: this.#o.now(),
      clockSkewMs: this.#o.clockSkewMs,
      ...this.#verify(),
    });
  }

  #verify(): Pick<VerifyOptions, 'verify'> {
    return this.#o.verify ? { verify: this.#o.verify } : {};
  }

  count(error: unknown): void {
    countRejected(this.#o.stats, error);
  }

  async resolve(
    t: ResolvedTarget,
    options: { signal?: AbortSignal; timeoutMs?: number },
  ): Promise<ResolveResult | null> {
    const { ops, cache, clockSkewMs: skew } = this.#o;
    this.#o.stats.resolves++;
    const sources = this.sources(t);
    if (sources.length === 0 && t.record === undefined) {
      throw new RendezvousError(
        'NO_BACKEND',
        `no configured backend can resolve locators [${t.locators.map((l) => l.backend).join(', ')}]`,
      );
    }
    const timeoutMs = options.timeoutMs ?? this.#o.timeoutMs;
    const link = ops.link([options.signal], timeoutMs);
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
              error = ops.closed
                ? new RendezvousError('CLOSED', 'Rendezvous is closed')
                : new RendezvousError('UNAVAILABLE', `timed out after ${timeoutMs} ms`, { cause: caught });
            }
            this.count(error);
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
    const now = this.#o.now();
    const checks: VerifyOptions = { expectedPeerId: t.peerId, now, clockSkewMs: skew, ...this.#verify() };
    const verified: { source: string; decoded: DecodedRecord }[] = [];
    for (const f of found) {
      try {
        verified.push({
          source: f.source,
          decoded: verifyRecord(f.bytes, checks),
        });
      } catch (error) {
        this.count(error);
        if (isRendezvousError(error)) rejected.push({ source: f.source, error });
        else throw error;
      }
    }
    verified.sort((a, b) => b.decoded.record.seq - a.decoded.record.seq);
    for (const v of verified) {
      try {
        const accepted = cache.accept(v.decoded.bytes, checks);
        return { record: accepted.record, bytes: accepted.bytes, source: v.source, rejected };
      } catch (error) {
        this.count(error);
        if (isRendezvousError(error)) rejected.push({ source: v.source, error });
        else throw error;
      }
    }
    // Everything found was older than what this resolver already knows: the cached record is the
    // answer as long as it has not expired.
    const cached = cache.get(t.peerId);
    if (cached !== undefined && rejected.some((r) => r.error.code === 'STALE_RECORD')) {
      try {
        verifyRecord(cached.bytes, checks);
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
}
