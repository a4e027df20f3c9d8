// The public `dht` property has the type of bittorrent-dht, which ships none: our declarations travel
// with the package (files: src/bittorrent-dht.d.ts) and the emitted .d.ts keeps this reference.
/// <reference path="./bittorrent-dht.d.ts" preserve="true" />
import { createHash } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
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
import { equalBytes } from '@srmudp/wire';
import DHT from 'bittorrent-dht';
import { GuardedSocket, type KrpcGuardStats } from './guarded-socket.js';

/** The public mainline DHT routers (the same list as libtorrent and bittorrent-dht). */
export const MAINLINE_BOOTSTRAP: readonly string[] = [
  'router.bittorrent.com:6881',
  'router.utorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'dht.libtorrent.org:25401',
];
/** BEP 44 salt of srmudp records: one item per (key, application). */
export const DEFAULT_SALT = 'srmudp/rendezvous/v1';

export interface DhtBackendOptions {
  /** Salt of the BEP 44 item (at most 64 bytes), so apps sharing a key do not collide. Default DEFAULT_SALT. */
  readonly salt?: string;
  /** Bootstrap routers ("host:port"); false: none (a private DHT joined through `nodes`). Default MAINLINE_BOOTSTRAP. */
  readonly bootstrap?: false | readonly string[];
  /** Nodes to add to the routing table directly (private or test networks). */
  readonly nodes?: readonly { host: string; port: number }[];
  /** UDP port and address to listen on. Default 0 (any port) on all interfaces. */
  readonly port?: number;
  readonly host?: string;
  /** Timeout of one get/put traversal, ms. Default 15 000. */
  readonly timeoutMs?: number;
  /** Per-query timeout inside the DHT, ms. Default 2 000. */
  readonly queryTimeoutMs?: number;
  readonly minPublishIntervalMs?: number;
  readonly republishIntervalMs?: number;
}

function verifyEd25519(signature: Buffer, message: Buffer, publicKey: Buffer): boolean {
  try {
    return ed25519.verify(signature, message, publicKey);
  } catch {
    return false;
  }
}

/**
 * Rendezvous backend on the BitTorrent mainline DHT: each peer's record is a BEP 44 mutable item
 * under its own Ed25519 key (the peer id) and a salt, so anyone with the peer id finds it at
 * target = SHA-1(peer id || salt). The DHT's storing nodes check the item's BEP 44 signature and
 * sequence number; the resolver checks the record's own signature on top. Items expire on DHT
 * nodes after about two hours, so Rendezvous republishes hourly.
 */
export class DhtBackend implements RendezvousBackend {
  readonly [RENDEZVOUS_BACKEND] = true as const;
  readonly specificationVersion = 'v1' as const;
  readonly name = 'dht';
  readonly capabilities: BackendCapabilities;
  readonly salt: string;
  readonly dht: DHT;
  readonly #saltBytes: Buffer;
  readonly #timeoutMs: number;
  readonly #ready: Promise<void>;
  readonly #socket: GuardedSocket;
  /** Settles every operation in flight on close() (one set instead of a listener per operation). */
  readonly #pending = new Set<() => void>();
  #closed = false;

  constructor(options: DhtBackendOptions = {}) {
    this.salt = options.salt ?? DEFAULT_SALT;
    this.#saltBytes = Buffer.from(this.salt, 'utf8');
    if (this.#saltBytes.length > 64) throw new RangeError('"salt" is at most 64 bytes (BEP 44)');
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    const bootstrap = options.bootstrap ?? MAINLINE_BOOTSTRAP;
    // Every datagram is type-checked before bittorrent-dht reads it (see krpc-guard.ts and the
    // README's upstream bug report): one malformed query used to kill the process.
    this.#socket = new GuardedSocket();
    this.dht = new DHT({
      socket: this.#socket,
      // k-rpc falls back to its built-in public router list when `nodes` is empty-ish: pass an
      // explicit (possibly empty) list so a private DHT never contacts the public one.
      bootstrap: bootstrap === false ? false : [...bootstrap],
      nodes: bootstrap === false ? [] : [...bootstrap],
      host: false,
      verify: verifyEd25519,
      timeout: options.queryTimeoutMs ?? 2_000,
    });
    this.dht.on('error', () => {}); // socket errors surface as failed queries
    onePerAddress(this.dht);
    this.dht.on('warning', () => {});
    this.capabilities = {
      maxValueSize: MAX_RECORD_SIZE,
      watch: 'none',
      cost: 'free',
      minPublishIntervalMs: options.minPublishIntervalMs ?? 5_000,
      republishIntervalMs: options.republishIntervalMs ?? 60 * 60_000,
    };
    const nodes = options.nodes ?? [];
    this.#ready = new Promise<void>((resolve, reject) => {
      const onError = (e: Error) =>
        reject(new RendezvousError('UNAVAILABLE', `DHT socket: ${e.message}`, { cause: e }));
      this.dht.once('error', onError);
      this.dht.listen(options.port ?? 0, options.host ?? '0.0.0.0', () => {
        this.dht.off('error', onError);
        for (const n of nodes) this.dht.addNode(n);
        resolve();
      });
    });
    this.#ready.catch(() => {});
  }

  /** Resolves when the socket listens and (up to 3 s) the routing table holds the given nodes. */
  async ready(options: { minNodes?: number; timeoutMs?: number } = {}): Promise<void> {
    await this.#ready;
    const want = options.minNodes ?? 1;
    const deadline = Date.now() + (options.timeoutMs ?? 3000);
    while (this.dht.nodes.count() < want && Date.now() < deadline && !this.#closed) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** The BEP 44 target of a peer's record: SHA-1(public key || salt). */
  target(peerId: Uint8Array, salt: string = this.salt): Buffer {
    return createHash('sha1').update(peerId).update(Buffer.from(salt, 'utf8')).digest();
  }

  #enter(signal: AbortSignal | undefined): void {
    if (this.#closed) throw new RendezvousError('CLOSED', 'dht backend is closed');
    throwIfAborted(signal);
  }

  /** Runs a callback-style DHT operation with timeout, abort and close. */
  #op<T>(
    signal: AbortSignal | undefined,
    what: string,
    start: (done: (error: RendezvousError | null, value?: T) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const finish = (error: RendezvousError | null, value?: T) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#pending.delete(onClose);
        if (error) reject(error);
        else resolve(value as T);
      };
      const onAbort = () =>
        finish(new RendezvousError('ABORTED', 'operation aborted', { cause: signal?.reason }));
      const onClose = () => finish(new RendezvousError('CLOSED', 'dht backend is closed'));
      const timer = setTimeout(
        () => finish(new RendezvousError('UNAVAILABLE', `DHT ${what} timed out after ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#pending.add(onClose);
      try {
        start(finish);
      } catch (error) {
        finish(
          new RendezvousError('UNAVAILABLE', `DHT ${what} failed: ${(error as Error).message}`, {
            cause: error,
          }),
        );
      }
    });
  }

  #get(
    peerId: Uint8Array,
    salt: Buffer,
    signal: AbortSignal | undefined,
  ): Promise<{ v: Uint8Array; seq: number } | null> {
    const target = createHash('sha1').update(peerId).update(salt).digest();
    return this.#op(signal, 'get', (done) => {
      this.dht.get(target, { salt, cache: false }, (err, value) => {
        if (err) {
          // "no nodes" on an empty table is "cannot look", not "not found"
          done(new RendezvousError('UNAVAILABLE', `DHT get failed: ${err.message}`, { cause: err }));
          return;
        }
        // bittorrent-dht verified the BEP 44 signature and the target; check the key is ours too.
        if (
          value === null ||
          !Buffer.isBuffer(value.v) ||
          value.k === undefined ||
          !equalBytes(value.k, peerId)
        ) {
          done(null, null);
          return;
        }
        done(null, { v: new Uint8Array(value.v), seq: typeof value.seq === 'number' ? value.seq : 0 });
      });
    });
  }

  async publish(key: RecordKey, value: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    const peerId = checkRecordKey(key);
    if (!(value instanceof Uint8Array)) throw new TypeError('"value" expected Uint8Array');
    if (!Number.isSafeInteger(options.seq) || options.seq < 0)
      throw new TypeError('"options.seq" expected a non-negative safe integer');
    const signer = options.signer;
    if (signer === undefined)
      throw new TypeError('"options.signer" is required: BEP 44 items are signed by their owner');
    if (!equalBytes(signer.publicKey, peerId))
      throw new TypeError('"options.signer" does not belong to "key.peerId"');
    this.#enter(options.signal);
    if (value.length > this.capabilities.maxValueSize) {
      throw new RendezvousError(
        'TOO_LARGE',
        `value is ${value.length} bytes, limit ${this.capabilities.maxValueSize}`,
      );
    }
    await this.#ready;
    this.#enter(options.signal);
    // BEP 44 compare-and-swap loop: read the stored item (which also collects the storing nodes'
    // write tokens), refuse going back, put with cas = the seq we read; when a concurrent writer
    // got in between (301) or nodes disagree (302), re-read and try again, a bounded number of times.
    for (let attempt = 0; ; attempt++) {
      const current = await this.#get(peerId, this.#saltBytes, options.signal).catch((error: unknown) => {
        if (error instanceof RendezvousError && error.code !== 'UNAVAILABLE') throw error;
        return null;
      });
      let republish = false;
      if (current !== null) {
        if (options.seq < current.seq) {
          throw new RendezvousError(
            'STALE_SEQUENCE',
            `seq ${options.seq} is below the stored seq ${current.seq}`,
          );
        }
        if (options.seq === current.seq) {
          if (!equalBytes(current.v, value)) {
            throw new RendezvousError(
              'STALE_SEQUENCE',
              `seq ${options.seq} is already stored with another value`,
            );
          }
          republish = true;
        }
      }
      const put = {
        k: Buffer.from(peerId),
        v: Buffer.from(value),
        seq: options.seq,
        salt: this.#saltBytes,
        sign: (message: Buffer) => Buffer.from(signer.sign(new Uint8Array(message))),
        ...(current !== null && !republish ? { cas: current.seq } : {}),
      };
      const outcome = await this.#op<'ok' | 'retry'>(options.signal, 'put', (done) => {
        this.dht.put(put, (err) => {
          if (!err) return done(null, 'ok');
          const code = err.code;
          // Nodes holding this very item answer 302 to a republish: it is stored, the goal.
          if (republish && code === 302) return done(null, 'ok');
          if (code === 301 || code === 302) return done(null, 'retry');
          done(new RendezvousError('UNAVAILABLE', `DHT put failed: ${err.message}`, { cause: err }));
        });
      });
      if (outcome === 'ok') break;
      if (attempt >= 3) {
        throw new RendezvousError(
          'STALE_SEQUENCE',
          'DHT nodes kept refusing the put (a newer item or a busy concurrent writer)',
        );
      }
    }
    // The default salt is implied by a locator without one: the card stays a few bytes shorter.
    return { locator: this.salt === DEFAULT_SALT ? { backend: 'dht' } : { backend: 'dht', salt: this.salt } };
  }

  async resolve(key: RecordKey, options: ResolveOptions = {}): Promise<Uint8Array | null> {
    const peerId = checkRecordKey(key);
    this.#enter(options.signal);
    await this.#ready;
    this.#enter(options.signal);
    // A card's locator names the salt, DEFAULT_SALT when it has none; without a locator, our own.
    const salt =
      key.locator === undefined
        ? this.#saltBytes
        : Buffer.from(typeof key.locator.salt === 'string' ? key.locator.salt : DEFAULT_SALT, 'utf8');
    if (salt.length > 64) return null;
    const got = await this.#get(peerId, salt, options.signal);
    return got === null ? null : got.v;
  }

  canResolve(locator: Locator): boolean {
    return locator.backend === 'dht' && (locator.salt === undefined || typeof locator.salt === 'string');
  }

  /** Counters of the KRPC guard: datagrams received, passed to bittorrent-dht, dropped by reason. */
  stats(): KrpcGuardStats {
    return this.#socket.stats();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const settle of [...this.#pending]) settle();
    await this.#ready.catch(() => {});
    await new Promise<void>((resolve) => this.dht.destroy(() => resolve()));
  }
}

/**
 * Keeps one routing-table entry per UDP address (a socket is one node): without it, one socket
 * sending queries with random node ids fills the table with itself, and lookups stall on it (the
 * flood of ids BEP 42 is about). The newest id of an address replaces the older one.
 */
function onePerAddress(dht: DHT): void {
  const idByAddress = new Map<string, Buffer>();
  dht.nodes.on('added', (c) => {
    const key = `${c.host}:${c.port}`;
    const previous = idByAddress.get(key);
    idByAddress.set(key, c.id);
    if (previous !== undefined && !previous.equals(c.id)) dht.nodes.remove(previous);
  });
  dht.nodes.on('removed', (c) => {
    const key = `${c.host}:${c.port}`;
    if (idByAddress.get(key)?.equals(c.id)) idByAddress.delete(key);
  });
}

export function dhtBackend(options: DhtBackendOptions = {}): DhtBackend {
  return new DhtBackend(options);
}
