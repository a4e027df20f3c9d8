import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '@srmudp/wire';

/** Why a simulated network operation failed (the fake gateways map these to HTTP statuses). */
export type SimErrorCode =
  | 'NOT_FOUND'
  | 'EXISTS'
  | 'PAYMENT_REQUIRED'
  | 'COUNTER_NOT_INCREASED'
  | 'BAD_REQUEST';
export class SimError extends Error {
  constructor(
    readonly code: SimErrorCode,
    message: string,
    readonly address?: string,
  ) {
    super(message);
    this.name = 'SimError';
  }
}

export interface SimCosts {
  readonly chunk: number;
  readonly pointerCreate: number;
  readonly pointerUpdate: number;
  readonly scratchpadCreate: number;
  readonly scratchpadUpdate: number;
}

export interface AutonomiSimulatorOptions {
  /** Replicas holding each mutable record (a close group). Default 5. */
  readonly replicas?: number;
  /** A write reaches each replica after a uniform random delay in [0, staleMs]. Default 150 ms. */
  readonly staleMs?: number;
  /**
   * Delay between a gateway reading the current counter and its write landing. Concurrent
   * writers inside this window both write counter + 1: a fork. Default 0.
   */
  readonly writeDelayMs?: number;
  readonly costs?: Partial<SimCosts>;
  readonly now?: () => number;
  /** Uniform [0, 1). Seed it for reproducible replica schedules. */
  readonly random?: () => number;
}

interface Version {
  readonly counter: number;
  readonly payload: Uint8Array;
  readonly owner: string;
  readonly hash: string;
  /** When each replica has it (ms). */
  readonly visibleAt: readonly number[];
}

interface MutableRecord {
  readonly kind: 'pointer' | 'scratchpad';
  readonly owner: string;
  versions: Version[];
}

const enc = new TextEncoder();

/** A deterministic RNG (mulberry32) for reproducible replica schedules in tests. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * An in-process model of the Autonomi semantics srmudp relies on, to run the real gateway
 * adapters against in CI:
 * - addresses are derived from the owner (SHA-256 stands in for BLS public-key derivation);
 * - chunks are content addressed and immutable;
 * - a mutable record (pointer, scratchpad) must be created before it is updated, and every
 *   version carries a counter that must increase;
 * - writes are paid from a wallet ledger (402 when it is empty); reads are free;
 * - each record lives on `replicas` replicas that learn a write after a random delay, and a read
 *   asks one random replica, so readers see stale values for a while;
 * - forks (two writes with the same counter) resolve to the highest counter, ties to the highest
 *   content hash, the same on every replica.
 */
export class AutonomiSimulator {
  readonly #chunks = new Map<string, Uint8Array>();
  readonly #records = new Map<string, MutableRecord>();
  readonly #wallets = new Map<string, number>();
  readonly #replicas: number;
  readonly #staleMs: number;
  readonly #writeDelayMs: number;
  readonly costs: SimCosts;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly stats = { writes: 0, paid: 0, reads: 0, staleReads: 0, forks: 0, refusedPayments: 0 };

  constructor(options: AutonomiSimulatorOptions = {}) {
    this.#replicas = options.replicas ?? 5;
    this.#staleMs = options.staleMs ?? 150;
    this.#writeDelayMs = options.writeDelayMs ?? 0;
    this.costs = {
      chunk: 1,
      pointerCreate: 10,
      pointerUpdate: 2,
      scratchpadCreate: 10,
      scratchpadUpdate: 2,
      ...options.costs,
    };
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Sets a wallet's balance (in the simulator's token units). */
  fund(wallet: string, amount: number): void {
    this.#wallets.set(wallet, amount);
  }

  balance(wallet: string): number {
    return this.#wallets.get(wallet) ?? 0;
  }

  #pay(wallet: string, cost: number): void {
    const b = this.balance(wallet);
    if (b < cost) {
      this.stats.refusedPayments++;
      throw new SimError('PAYMENT_REQUIRED', `wallet ${wallet} holds ${b}, the write costs ${cost}`);
    }
    this.#wallets.set(wallet, b - cost);
    this.stats.paid += cost;
  }

  /** Address of the pointer owned by a secret key (hex). */
  pointerAddress(ownerSecretKey: string): string {
    return toHex(sha256(enc.encode(`autonomi-sim/pointer/${ownerSecretKey.toLowerCase()}`)));
  }

  /** Address of the scratchpad an app key derives for a name (AntTP, dweb). */
  scratchpadAddress(appKey: string, name: string): string {
    return toHex(sha256(enc.encode(`autonomi-sim/scratchpad/${appKey}/${name}`)));
  }

  putChunk(data: Uint8Array, wallet: string): { address: string; cost: number } {
    const address = toHex(sha256(data));
    if (!this.#chunks.has(address)) {
      this.#pay(wallet, this.costs.chunk);
      this.#chunks.set(address, data.slice());
      this.stats.writes++;
      return { address, cost: this.costs.chunk };
    }
    return { address, cost: 0 }; // already stored: content addressing makes it free
  }

  getChunk(address: string): Uint8Array | null {
    this.stats.reads++;
    return this.#chunks.get(address)?.slice() ?? null;
  }

  #latest(rec: MutableRecord): Version | undefined {
    let best: Version | undefined;
    for (const v of rec.versions) if (best === undefined || better(v, best)) best = v;
    return best;
  }

  #append(
    address: string,
    rec: MutableRecord,
    counter: number,
    payload: Uint8Array,
    owner: string,
  ): Promise<number> {
    const land = () => {
      const now = this.#now();
      const visibleAt = Array.from({ length: this.#replicas }, (_, i) =>
        i === 0 ? now : now + this.#random() * this.#staleMs,
      );
      const v: Version = {
        counter,
        payload: payload.slice(),
        owner,
        hash: toHex(sha256(payload)),
        visibleAt,
      };
      if (rec.versions.some((x) => x.counter === counter && x.hash !== v.hash)) this.stats.forks++;
      rec.versions.push(v);
      // Keep history bounded: versions every replica has seen and that lost are forgotten.
      if (rec.versions.length > 16) rec.versions = rec.versions.slice(-16);
      this.#records.set(address, rec);
      this.stats.writes++;
      return counter;
    };
    if (this.#writeDelayMs <= 0) return Promise.resolve(land());
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(land()), this.#writeDelayMs);
      (t as { unref?: () => void }).unref?.();
    });
  }

  #create(
    kind: 'pointer' | 'scratchpad',
    address: string,
    owner: string,
    payload: Uint8Array,
    wallet: string,
  ): Promise<number> {
    if (this.#records.has(address)) throw new SimError('EXISTS', `${kind} ${address} exists`, address);
    this.#pay(wallet, kind === 'pointer' ? this.costs.pointerCreate : this.costs.scratchpadCreate);
    const rec: MutableRecord = { kind, owner, versions: [] };
    this.#records.set(address, rec);
    return this.#append(address, rec, 0, payload, owner);
  }

  #update(
    kind: 'pointer' | 'scratchpad',
    address: string,
    owner: string,
    payload: Uint8Array,
    wallet: string,
    counter?: number,
  ): Promise<number> {
    const rec = this.#records.get(address);
    if (rec === undefined || rec.kind !== kind)
      throw new SimError('NOT_FOUND', `${kind} ${address} does not exist: create it first`);
    if (rec.owner !== owner) throw new SimError('BAD_REQUEST', `${kind} ${address} belongs to another owner`);
    const current = this.#latest(rec)?.counter ?? 0;
    const next = counter ?? current + 1;
    if (next <= current)
      throw new SimError('COUNTER_NOT_INCREASED', `counter ${next} is not above ${current}`);
    this.#pay(wallet, kind === 'pointer' ? this.costs.pointerUpdate : this.costs.scratchpadUpdate);
    return this.#append(address, rec, next, payload, owner);
  }

  /** Reads a record as one random replica sees it (stale for a while after writes). */
  #read(
    kind: 'pointer' | 'scratchpad',
    address: string,
  ): { counter: number; payload: Uint8Array; owner: string } | null {
    this.stats.reads++;
    const rec = this.#records.get(address);
    if (rec === undefined || rec.kind !== kind) return null;
    const now = this.#now();
    const replica = Math.floor(this.#random() * this.#replicas);
    let best: Version | undefined;
    for (const v of rec.versions) {
      if ((v.visibleAt[replica] ?? 0) > now) continue;
      if (best === undefined || better(v, best)) best = v;
    }
    const latest = this.#latest(rec);
    if (best !== latest) this.stats.staleReads++;
    return best === undefined
      ? null
      : { counter: best.counter, payload: best.payload.slice(), owner: best.owner };
  }

  async createPointer(
    ownerSecretKey: string,
    targetChunk: string,
    wallet: string,
  ): Promise<{ address: string; counter: number }> {
    const address = this.pointerAddress(ownerSecretKey);
    return this.#create('pointer', address, ownerSecretKey, enc.encode(targetChunk), wallet).then(
      (counter) => ({ address, counter }),
    );
  }

  async updatePointer(ownerSecretKey: string, targetChunk: string, wallet: string): Promise<number> {
    return this.#update(
      'pointer',
      this.pointerAddress(ownerSecretKey),
      ownerSecretKey,
      enc.encode(targetChunk),
      wallet,
    );
  }

  getPointer(address: string): { counter: number; target: string; owner: string } | null {
    const r = this.#read('pointer', address);
    return r === null
      ? null
      : { counter: r.counter, target: new TextDecoder().decode(r.payload), owner: r.owner };
  }

  async createScratchpad(
    appKey: string,
    name: string,
    data: Uint8Array,
    wallet: string,
  ): Promise<{ address: string; counter: number }> {
    const address = this.scratchpadAddress(appKey, name);
    return this.#create('scratchpad', address, appKey, data, wallet).then((counter) => ({
      address,
      counter,
    }));
  }

  async updateScratchpad(
    appKey: string,
    name: string,
    data: Uint8Array,
    wallet: string,
    counter?: number,
  ): Promise<number> {
    return this.#update('scratchpad', this.scratchpadAddress(appKey, name), appKey, data, wallet, counter);
  }

  getScratchpad(address: string): { counter: number; data: Uint8Array } | null {
    const r = this.#read('scratchpad', address);
    return r === null ? null : { counter: r.counter, data: r.payload };
  }

  /** True when a record exists at the address (any replica). */
  has(address: string): boolean {
    return this.#records.has(address);
  }
}

function better(a: Version, b: Version): boolean {
  return a.counter > b.counter || (a.counter === b.counter && a.hash > b.hash);
}
