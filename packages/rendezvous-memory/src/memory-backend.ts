import type {
  BackendCapabilities,
  Locator,
  PublishOptions,
  PublishResult,
  RecordKey,
  RendezvousBackend,
  ResolveOptions,
} from '@srmudp/rendezvous';
import { checkRecordKey, RENDEZVOUS_BACKEND, RendezvousError, throwIfAborted } from '@srmudp/rendezvous';
import { MemoryStore } from './memory-store.js';

export interface MemoryBackendOptions {
  /** Shared storage; backends over one store see each other. Default: a new private store. */
  readonly store?: MemoryStore;
  /** Default 1000 bytes (a BEP 44 sized value). */
  readonly maxValueSize?: number;
  readonly minPublishIntervalMs?: number;
  readonly republishIntervalMs?: number;
  /** Simulated latency of every call, ms. Default 0. */
  readonly latencyMs?: number;
}

/**
 * A rendezvous backend over an in-process {@link MemoryStore}: for tests and for peers inside
 * one process. Push watch, free, no minimum interval.
 */
export class MemoryBackend implements RendezvousBackend {
  readonly [RENDEZVOUS_BACKEND] = true as const;
  readonly specificationVersion = 'v1' as const;
  readonly name = 'memory';
  readonly capabilities: BackendCapabilities;
  readonly store: MemoryStore;
  readonly #latency: number;
  readonly #closing = new AbortController();
  #closed = false;

  constructor(options: MemoryBackendOptions = {}) {
    this.store = options.store ?? new MemoryStore();
    this.#latency = options.latencyMs ?? 0;
    this.capabilities = {
      maxValueSize: options.maxValueSize ?? 1000,
      watch: 'push',
      cost: 'free',
      minPublishIntervalMs: options.minPublishIntervalMs ?? 0,
      republishIntervalMs: options.republishIntervalMs ?? 3_600_000,
    };
  }

  async #enter(signal: AbortSignal | undefined): Promise<void> {
    if (this.#closed) throw new RendezvousError('CLOSED', 'memory backend is closed');
    throwIfAborted(signal);
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(t);
        reject(new RendezvousError('ABORTED', 'operation aborted', { cause: signal?.reason }));
      };
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, this.#latency);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    if (this.#closed) throw new RendezvousError('CLOSED', 'memory backend is closed');
  }

  async publish(key: RecordKey, value: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    const peerId = checkRecordKey(key);
    if (!(value instanceof Uint8Array)) throw new TypeError('"value" expected Uint8Array');
    if (!Number.isSafeInteger(options.seq) || options.seq < 0)
      throw new TypeError('"options.seq" expected a non-negative safe integer');
    await this.#enter(options.signal);
    if (value.length > this.capabilities.maxValueSize) {
      throw new RendezvousError(
        'TOO_LARGE',
        `value is ${value.length} bytes, limit ${this.capabilities.maxValueSize}`,
      );
    }
    this.store.put(peerId, value, options.seq);
    return { locator: { backend: 'memory' } };
  }

  async resolve(key: RecordKey, options: ResolveOptions = {}): Promise<Uint8Array | null> {
    const peerId = checkRecordKey(key);
    await this.#enter(options.signal);
    return this.store.get(peerId);
  }

  canResolve(locator: Locator): boolean {
    return locator.backend === 'memory';
  }

  async *watch(key: RecordKey, options: ResolveOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const peerId = checkRecordKey(key);
    if (this.#closed) throw new RendezvousError('CLOSED', 'memory backend is closed');
    yield* this.store.watch(peerId, [options.signal, this.#closing.signal]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort();
  }
}

export function memoryBackend(options: MemoryBackendOptions = {}): MemoryBackend {
  return new MemoryBackend(options);
}
