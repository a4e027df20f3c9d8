import { ed25519 } from '@noble/curves/ed25519.js';
import type { Locator } from './locator.js';

/** Brand of every rendezvous backend: checked with {@link isRendezvousBackend}, not instanceof. */
export const RENDEZVOUS_BACKEND = Symbol.for('@srmudp/rendezvous-backend');

/** What a backend can do; the Rendezvous publisher and resolver plan around these. */
export interface BackendCapabilities {
  /** Largest value publish accepts, bytes (records are at most 999). */
  readonly maxValueSize: number;
  /** 'push': watch() delivers updates as they happen; 'poll': watch() polls; 'none': no watch(). */
  readonly watch: 'push' | 'poll' | 'none';
  /** 'paid': every publish costs money (Autonomi), so publish rarely. */
  readonly cost: 'free' | 'paid';
  /** The publisher never publishes to this backend more often than this. */
  readonly minPublishIntervalMs: number;
  /** The publisher republishes the current record this often (storage on the backend decays). */
  readonly republishIntervalMs: number;
}

/** Signs for the owner of the key (BEP 44 needs the owner's signature over its own message). */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export interface PublishOptions {
  /** Sequence number of the value (the record's seq): a backend refuses seq below the stored one. */
  readonly seq: number;
  /** The owner of the key; backends that sign their own envelope (DHT) need it. */
  readonly signer?: Signer;
  readonly signal?: AbortSignal;
}
export interface ResolveOptions {
  readonly signal?: AbortSignal;
}
/** The key of a stored value: the owner's peer id, plus the locator from a card when resolving. */
export interface RecordKey {
  readonly peerId: Uint8Array;
  readonly locator?: Locator;
}
export interface PublishResult {
  /** Where the value can be resolved: goes into the owner's contact card. */
  readonly locator: Locator;
}

/**
 * Untrusted storage of opaque bytes (a signed record) per key, version 1 of the interface.
 * Rules every backend follows (the compliance suite checks them):
 * - `publish` with a seq below the stored one throws STALE_SEQUENCE; the same seq with the same
 *   bytes succeeds (idempotent republish); the same seq with other bytes throws STALE_SEQUENCE.
 * - `resolve` gives the newest value it can find, or null; it never throws for "not found".
 * - values above `capabilities.maxValueSize` throw TOO_LARGE; I/O failures throw UNAVAILABLE;
 *   a fired signal throws ABORTED; any call after `close()` throws CLOSED.
 * - `watch` yields the newest value whenever it changes, never the same bytes twice in a row,
 *   and ends (without throwing) when the signal fires or the backend closes.
 * - `close()` releases every socket and timer; it is idempotent.
 * Errors are RendezvousError with a BackendErrorCode.
 */
export interface RendezvousBackend {
  readonly [RENDEZVOUS_BACKEND]: true;
  readonly specificationVersion: 'v1';
  /** Matches Locator.backend ('memory', 'manual', 'http', 'dht', 'autonomi', ...). */
  readonly name: string;
  readonly capabilities: BackendCapabilities;
  publish(key: RecordKey, value: Uint8Array, options: PublishOptions): Promise<PublishResult>;
  resolve(key: RecordKey, options?: ResolveOptions): Promise<Uint8Array | null>;
  watch?(key: RecordKey, options?: ResolveOptions): AsyncIterable<Uint8Array>;
  /** True when this backend can resolve the locator (its backend name and parameters fit). */
  canResolve?(locator: Locator): boolean;
  close(): Promise<void>;
}

export function isRendezvousBackend(value: unknown): value is RendezvousBackend {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Record<symbol, unknown>)[RENDEZVOUS_BACKEND] === true
  );
}

/** A Signer over an Ed25519 secret key (32-byte seed), plain Ed25519 (RFC 8032) signatures. */
export function createSigner(secretKey: Uint8Array): Signer {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) {
    throw new TypeError(
      `"secretKey" expected Uint8Array of length 32, got length=${(secretKey as Uint8Array | undefined)?.length}`,
    );
  }
  const key = secretKey.slice();
  return { publicKey: ed25519.getPublicKey(key), sign: (message) => ed25519.sign(message, key) };
}

/** The peer id of a RecordKey, for backends: TypeError on API misuse (not a 32-byte key). */
export function checkRecordKey(key: RecordKey): Uint8Array {
  if (!(key?.peerId instanceof Uint8Array) || key.peerId.length !== 32) {
    throw new TypeError('"key.peerId" expected Uint8Array of length 32');
  }
  return key.peerId;
}
