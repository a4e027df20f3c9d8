import type {
  BackendCapabilities,
  Locator,
  ParsedCard,
  PublishOptions,
  PublishResult,
  RecordKey,
  RendezvousBackend,
  ResolveOptions,
} from '@srmudp/rendezvous';
import {
  checkRecordKey,
  isRendezvousError,
  MAX_RECORD_SIZE,
  parseCard,
  RENDEZVOUS_BACKEND,
  RendezvousError,
  SequencedStore,
  throwIfAborted,
} from '@srmudp/rendezvous';

export interface ManualBackendOptions {
  /**
   * The address book: records from cards you were handed (addCard) and the ones you publish.
   * Share one between backends to share the book. Default: a new private book.
   */
  readonly book?: SequencedStore;
  /** Called with every newly published signed record: hand out a fresh card (Rendezvous.card()). */
  readonly onPublish?: (record: Uint8Array) => void;
  /** Republish interval reported to Rendezvous, which re-signs (fresh expiry) this often. Default 7 days. */
  readonly republishIntervalMs?: number;
}

/**
 * The manual rendezvous backend: no network at all. The signed record travels inside the contact
 * card (Rendezvous.card() embeds it when a 'manual' locator is present); publishing only updates
 * the record you hand out next, and resolving reads the cards you were given (addCard).
 */
export class ManualBackend implements RendezvousBackend {
  readonly [RENDEZVOUS_BACKEND] = true as const;
  readonly specificationVersion = 'v1' as const;
  readonly name = 'manual';
  readonly capabilities: BackendCapabilities;
  readonly book: SequencedStore;
  readonly #onPublish: ((record: Uint8Array) => void) | undefined;
  readonly #closing = new AbortController();
  #closed = false;

  constructor(options: ManualBackendOptions = {}) {
    this.book = options.book ?? new SequencedStore();
    this.#onPublish = options.onPublish;
    this.capabilities = {
      maxValueSize: MAX_RECORD_SIZE,
      watch: 'push',
      cost: 'free',
      minPublishIntervalMs: 0,
      republishIntervalMs: options.republishIntervalMs ?? 7 * 24 * 3_600_000,
    };
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closed) throw new RendezvousError('CLOSED', 'manual backend is closed');
    throwIfAborted(signal);
  }

  async publish(key: RecordKey, value: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    const peerId = checkRecordKey(key);
    if (!(value instanceof Uint8Array)) throw new TypeError('"value" expected Uint8Array');
    this.#enter(options.signal);
    if (value.length > this.capabilities.maxValueSize) {
      throw new RendezvousError(
        'TOO_LARGE',
        `value is ${value.length} bytes, a card carries at most ${this.capabilities.maxValueSize}`,
      );
    }
    if (this.book.put(peerId, value, options.seq)) this.#onPublish?.(value.slice());
    return { locator: { backend: 'manual' } };
  }

  async resolve(key: RecordKey, options: ResolveOptions = {}): Promise<Uint8Array | null> {
    const peerId = checkRecordKey(key);
    this.#enter(options.signal);
    await Promise.resolve();
    this.#enter(options.signal);
    return this.book.get(peerId);
  }

  /**
   * Adds a card you were handed to the book. Its embedded record (signature already checked by
   * parseCard) replaces an older one of the same peer; an older or equal one is ignored.
   * Throws INVALID_CARD for a malformed card.
   */
  addCard(card: string | ParsedCard): ParsedCard {
    this.#enter(undefined);
    const parsed = typeof card === 'string' ? parseCard(card) : card;
    if (parsed.record !== undefined && parsed.embedded !== undefined) {
      try {
        this.book.put(parsed.peerId, parsed.record, parsed.embedded.seq);
      } catch (error) {
        if (!isRendezvousError(error, 'STALE_SEQUENCE')) throw error;
      }
    }
    return parsed;
  }

  canResolve(locator: Locator): boolean {
    return locator.backend === 'manual';
  }

  async *watch(key: RecordKey, options: ResolveOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const peerId = checkRecordKey(key);
    this.#enter(undefined);
    yield* this.book.watch(peerId, [options.signal, this.#closing.signal]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
  }
}

export function manualBackend(options: ManualBackendOptions = {}): ManualBackend {
  return new ManualBackend(options);
}
