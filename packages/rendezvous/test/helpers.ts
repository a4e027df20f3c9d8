import type {
  BackendCapabilities,
  PublishOptions,
  PublishResult,
  RecordKey,
  RendezvousBackend,
  ResolveOptions,
} from '../src/index.js';
import { RENDEZVOUS_BACKEND, RendezvousError, SequencedStore, sleep, throwIfAborted } from '../src/index.js';

/** A scriptable backend over a SequencedStore: counts calls, can answer garbage, fail or hang. */
export class TestBackend implements RendezvousBackend {
  readonly [RENDEZVOUS_BACKEND] = true as const;
  readonly specificationVersion = 'v1' as const;
  readonly capabilities: BackendCapabilities;
  readonly publishes: { at: number; seq: number; value: Uint8Array }[] = [];
  resolves = 0;
  closed = false;
  /** When set, resolve answers this instead of the store (bytes, null, an error to throw, or 'hang'). */
  answer: Uint8Array | null | Error | 'hang' | undefined;
  readonly watch?: (key: RecordKey, options?: ResolveOptions) => AsyncIterable<Uint8Array>;
  readonly #closing = new AbortController();

  constructor(
    readonly name: string,
    readonly store = new SequencedStore(),
    caps: Partial<BackendCapabilities> = {},
  ) {
    this.capabilities = {
      maxValueSize: 1000,
      watch: 'none',
      cost: 'free',
      minPublishIntervalMs: 0,
      republishIntervalMs: 3_600_000,
      ...caps,
    };
    if (this.capabilities.watch === 'push') {
      this.watch = (key, options = {}) =>
        this.store.watch(key.peerId, [options.signal, this.#closing.signal]);
    }
  }

  async publish(key: RecordKey, value: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    if (this.closed) throw new RendezvousError('CLOSED', 'closed');
    throwIfAborted(options.signal);
    this.publishes.push({ at: Date.now(), seq: options.seq, value });
    this.store.put(key.peerId, value, options.seq);
    return { locator: { backend: this.name } };
  }

  async resolve(key: RecordKey, options: ResolveOptions = {}): Promise<Uint8Array | null> {
    if (this.closed) throw new RendezvousError('CLOSED', 'closed');
    throwIfAborted(options.signal);
    this.resolves++;
    const a = this.answer;
    if (a === 'hang') {
      await sleep(60_000, options.signal);
      return null;
    }
    if (a instanceof Error) throw a;
    if (a !== undefined) return a;
    return this.store.get(key.peerId);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.#closing.abort();
  }
}
