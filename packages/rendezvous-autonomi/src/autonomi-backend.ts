import { sha256 } from '@noble/hashes/sha2.js';
import type {
  BackendCapabilities,
  Locator,
  PublishOptions,
  PublishResult,
  RecordKey,
  RendezvousBackend,
  ResolveOptions,
} from '@srmudp/rendezvous';
import {
  checkRecordKey,
  MAX_RECORD_SIZE,
  RENDEZVOUS_BACKEND,
  RendezvousError,
  throwIfAborted,
} from '@srmudp/rendezvous';
import { equalBytes, fromHex, toHex } from '@srmudp/wire';
import { unwrapEnvelope, wrapEnvelope } from './envelope.js';
import type { AutonomiGateway } from './gateway.js';
import { ADDRESS_PATTERN } from './gateway.js';

export interface AutonomiBackendOptions {
  readonly gateway: AutonomiGateway;
  /**
   * antd only: a 32-byte BLS secret key (hex) from which one pointer owner key per peer is
   * derived (SHA-256, reduced below the BLS12-381 group order). Keep it secret: whoever has it
   * can overwrite your pointers.
   */
  readonly ownerSecretKey?: string;
  /** Scratchpad name prefix (AntTP, dweb). Default 'srmudp-rendezvous'. */
  readonly namePrefix?: string;
  /** Known slot addresses per peer id (hex), e.g. saved from an earlier run; avoids a paid create. */
  readonly addresses?: Readonly<Record<string, string>>;
  /** Called when a slot address becomes known: persist it with your identity. */
  readonly onAddress?: (peerId: Uint8Array, address: string) => void;
  /** Reads (free) before a paid write, keeping the highest seq: replicas can be stale. Default 3. */
  readonly readsBeforeWrite?: number;
  readonly minPublishIntervalMs?: number;
  readonly republishIntervalMs?: number;
}

export const AUTONOMI_BACKEND_NAME = 'autonomi';

/**
 * Writers of one slot inside this process go one at a time (read, compare, write), and share what
 * they know about the slot's highest sequence: reads can be stale, what we wrote is not.
 */
const knownHighest = new Map<string, { seq: number; value: Uint8Array }>();
const slotLocks = new Map<string, Promise<unknown>>();
async function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = slotLocks.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => {});
  slotLocks.set(key, tail);
  try {
    return await run;
  } finally {
    if (slotLocks.get(key) === tail) slotLocks.delete(key);
  }
}

/**
 * Rendezvous backend on the Autonomi network through an HTTP gateway (antd, AntTP or dweb).
 * Each peer's record sits in one mutable slot (a pointer to a chunk, or a public scratchpad)
 * wrapped in a small envelope carrying its sequence number. Writes are paid, so the backend
 * never writes what is already stored, and Rendezvous publishes to it rarely (declared cost
 * 'paid', minimum interval 10 minutes, republish daily). Reads are free and may be stale for a
 * while (replicas): the backend remembers the highest sequence it has seen per slot and refuses
 * to publish below it.
 */
export class AutonomiBackend implements RendezvousBackend {
  readonly [RENDEZVOUS_BACKEND] = true as const;
  readonly specificationVersion = 'v1' as const;
  readonly name = AUTONOMI_BACKEND_NAME;
  readonly capabilities: BackendCapabilities;
  readonly gateway: AutonomiGateway;
  readonly #ownerKey: Uint8Array | undefined;
  readonly #prefix: string;
  readonly #addresses = new Map<string, string>();
  readonly #onAddress: ((peerId: Uint8Array, address: string) => void) | undefined;
  readonly #readsBeforeWrite: number;
  readonly #closing = new AbortController();
  #closed = false;

  constructor(options: AutonomiBackendOptions) {
    this.gateway = options.gateway;
    this.#readsBeforeWrite = Math.max(1, options.readsBeforeWrite ?? 3);
    if (options.ownerSecretKey !== undefined) {
      const k = fromHex(options.ownerSecretKey.replace(/^0x/, ''));
      if (k === null || k.length !== 32) throw new TypeError('"ownerSecretKey" expected 64 hex characters');
      this.#ownerKey = k;
    } else if (this.gateway.kind === 'antd') {
      throw new TypeError('"ownerSecretKey" is required with an antd gateway (pointers are owned by a key)');
    } else {
      this.#ownerKey = undefined;
    }
    this.#prefix = options.namePrefix ?? 'srmudp-rendezvous';
    for (const [peer, address] of Object.entries(options.addresses ?? {}))
      this.#addresses.set(peer.toLowerCase(), address.toLowerCase());
    this.#onAddress = options.onAddress;
    this.capabilities = {
      maxValueSize: MAX_RECORD_SIZE,
      watch: 'none',
      cost: 'paid',
      minPublishIntervalMs: options.minPublishIntervalMs ?? 10 * 60_000,
      republishIntervalMs: options.republishIntervalMs ?? 24 * 3_600_000,
    };
  }

  /** The gateway-side identity of a peer's slot: an owner key (antd) or a scratchpad name. */
  slotOf(peerId: Uint8Array): string {
    if (this.gateway.kind === 'antd') {
      const owner = this.#ownerKey as Uint8Array;
      const domain = new TextEncoder().encode('srmudp/autonomi/pointer-owner/v1');
      const k = sha256(new Uint8Array([...domain, ...owner, ...peerId]));
      // Clear the top two bits: a 254-bit integer is below the BLS12-381 group order, a valid key.
      k[0] = (k[0] as number) & 0x3f;
      return toHex(k);
    }
    return `${this.#prefix}-${toHex(peerId).slice(0, 40)}`;
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closed) throw new RendezvousError('CLOSED', 'autonomi backend is closed');
    throwIfAborted(signal);
  }

  /**
   * A signal of its own per operation (fired by the caller's signal or by close()): gateways add
   * an abort listener per request, and on the one shared close signal more than 10 concurrent
   * requests raised MaxListenersExceededWarning. AbortSignal.any follows its sources without
   * listeners of its own.
   */
  #signal(signal: AbortSignal | undefined): AbortSignal {
    return AbortSignal.any(signal ? [signal, this.#closing.signal] : [this.#closing.signal]);
  }

  #mapClosed(error: unknown, signal: AbortSignal | undefined): unknown {
    if (this.#closed && !signal?.aborted)
      return new RendezvousError('CLOSED', 'autonomi backend is closed', { cause: error });
    return error;
  }

  #knownKey(address: string): string {
    return `${this.gateway.url}|${address}`;
  }

  #remember(address: string, seq: number, value: Uint8Array): void {
    const k = this.#knownKey(address);
    const known = knownHighest.get(k);
    if (known === undefined || seq > known.seq) knownHighest.set(k, { seq, value });
    if (knownHighest.size > 10_000) {
      const first = knownHighest.keys().next().value;
      if (first !== undefined) knownHighest.delete(first);
    }
  }

  /** Reads the slot `reads` times (replicas answer independently) and keeps the highest seq. */
  async #readSlot(
    address: string,
    signal: AbortSignal,
    reads = 1,
  ): Promise<{ seq: number; value: Uint8Array } | null> {
    let best: { seq: number; value: Uint8Array } | null = null;
    for (let i = 0; i < reads; i++) {
      const slot = await this.gateway.read(address, signal);
      if (slot === null) continue;
      const env = unwrapEnvelope(slot.data);
      if (env === null)
        throw new RendezvousError('UNAVAILABLE', `slot ${address.slice(0, 12)}… holds no srmudp envelope`);
      this.#remember(address, env.seq, env.value);
      if (best === null || env.seq > best.seq) best = env;
    }
    return best;
  }

  async publish(key: RecordKey, value: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    const peerId = checkRecordKey(key);
    if (!(value instanceof Uint8Array)) throw new TypeError('"value" expected Uint8Array');
    if (!Number.isSafeInteger(options.seq) || options.seq < 0)
      throw new TypeError('"options.seq" expected a non-negative safe integer');
    this.#enter(options.signal);
    if (value.length > this.capabilities.maxValueSize) {
      throw new RendezvousError(
        'TOO_LARGE',
        `value is ${value.length} bytes, limit ${this.capabilities.maxValueSize}`,
      );
    }
    const slot = this.slotOf(peerId);
    const signal = this.#signal(options.signal);
    const peerHex = toHex(peerId);
    try {
      return await withLock(`${this.gateway.url}|${slot}`, async () => {
        this.#enter(options.signal);
        let address = this.#addresses.get(peerHex);
        for (let round = 0; round < 2; round++) {
          if (address !== undefined) {
            const current = await this.#readSlot(address, signal, this.#readsBeforeWrite).catch(
              (error: unknown) => {
                // An unreadable slot (garbage, someone else's data) is overwritten by its owner: us.
                if (
                  error instanceof RendezvousError &&
                  error.code === 'UNAVAILABLE' &&
                  /no srmudp envelope/.test(error.message)
                )
                  return null;
                throw error;
              },
            );
            const best = knownHighest.get(this.#knownKey(address));
            if (best !== undefined) {
              if (options.seq < best.seq) {
                throw new RendezvousError(
                  'STALE_SEQUENCE',
                  `seq ${options.seq} is below the stored seq ${best.seq}`,
                );
              }
              if (options.seq === best.seq) {
                if (equalBytes(best.value, value)) return { locator: this.#locator(address) }; // stored: no paid write
                throw new RendezvousError(
                  'STALE_SEQUENCE',
                  `seq ${options.seq} is already stored with another value`,
                );
              }
            }
            if (current !== null || best !== undefined) {
              await this.gateway.update(slot, address, wrapEnvelope(options.seq, value), signal);
              this.#remember(address, options.seq, value.slice());
              return { locator: this.#locator(address) };
            }
            // Known address but nothing readable yet (a create still propagating): update it.
            await this.gateway.update(slot, address, wrapEnvelope(options.seq, value), signal);
            this.#remember(address, options.seq, value.slice());
            return { locator: this.#locator(address) };
          }
          const created = await this.gateway.create(slot, wrapEnvelope(options.seq, value), signal);
          const addr = created.address.toLowerCase();
          this.#learnAddress(peerId, addr);
          if (!created.existed) {
            this.#remember(addr, options.seq, value.slice());
            return { locator: this.#locator(addr) };
          }
          address = addr; // it existed: compare with what it holds, then update
        }
        throw new RendezvousError('UNAVAILABLE', 'gateway kept reporting an existing slot');
      });
    } catch (error) {
      throw this.#mapClosed(error, options.signal);
    }
  }

  #learnAddress(peerId: Uint8Array, address: string): void {
    const k = toHex(peerId);
    if (this.#addresses.get(k) === address) return;
    this.#addresses.set(k, address);
    this.#onAddress?.(peerId, address);
  }

  #locator(address: string): Locator {
    return { backend: AUTONOMI_BACKEND_NAME, type: this.gateway.slotType, address };
  }

  async resolve(key: RecordKey, options: ResolveOptions = {}): Promise<Uint8Array | null> {
    const peerId = checkRecordKey(key);
    this.#enter(options.signal);
    const fromLocator =
      typeof key.locator?.address === 'string' ? key.locator.address.toLowerCase() : undefined;
    const address = fromLocator ?? this.#addresses.get(toHex(peerId));
    if (address === undefined || !ADDRESS_PATTERN.test(address)) return null;
    try {
      const got = await this.#readSlot(address, this.#signal(options.signal));
      return got === null ? null : got.value;
    } catch (error) {
      throw this.#mapClosed(error, options.signal);
    }
  }

  canResolve(locator: Locator): boolean {
    return (
      locator.backend === AUTONOMI_BACKEND_NAME &&
      typeof locator.address === 'string' &&
      ADDRESS_PATTERN.test(locator.address.toLowerCase()) &&
      (locator.type === undefined || locator.type === this.gateway.slotType)
    );
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#closing.abort(new RendezvousError('CLOSED', 'autonomi backend is closed'));
  }
}

export function autonomiBackend(options: AutonomiBackendOptions): AutonomiBackend {
  return new AutonomiBackend(options);
}
