import { bytesKey, concatBytes } from '@srmudp/wire';
import type { CryptoBackend } from '../backend.js';
import { CipherState } from './cipher-state.js';
import { blake2sOf, type NoiseHash, SHA256 } from './hash.js';
import type { HandshakePatternDef, Token } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface HandshakeStateInit {
  pattern: HandshakePatternDef;
  initiator: boolean;
  hash: 'BLAKE2s' | 'SHA256';
  backend: CryptoBackend;
  prologue: Uint8Array;
  /** Local static key pair (required by IK and XX). */
  s?: KeyPair;
  /** Remote static public key known in advance (IK initiator). */
  rs?: Uint8Array;
  /** Fixed ephemeral key pair (test vectors); otherwise `random` generates one. */
  e?: KeyPair;
  random?: (n: number) => Uint8Array;
}

export interface SplitResult {
  /** Cipher for messages this side sends. */
  send: CipherState;
  /** Cipher for messages this side receives. */
  recv: CipherState;
  handshakeHash: Uint8Array;
}

const DHLEN = 32;

/**
 * Initial symmetric states by hash function, then protocol name, prologue and pre-message key
 * (all public). Bounded (oldest forgotten): an initiator's entries are per remote peer.
 */
const initialStates = new WeakMap<NoiseHash, Map<string, { ck: Uint8Array; h: Uint8Array }>>();
const INITIAL_STATES = 32;

/**
 * The Noise HandshakeState machine over a hash function already chosen: {@link HandshakeState}
 * without the choice by name. The initiator and the responder build this one with BLAKE2s, so a
 * bundle that only runs them (the browser's) carries no SHA-256 (noble's SHA-256 and its
 * round-constant table): only `HandshakeState`, for `hash: 'SHA256'`, refers to it.
 */
export class NoiseHandshake {
  readonly initiator: boolean;
  private ss: SymmetricState;
  private readonly backend: CryptoBackend;
  private readonly pattern: HandshakePatternDef;
  private s: KeyPair | null;
  private e: KeyPair | null;
  private rs: Uint8Array | null;
  private re: Uint8Array | null = null;
  private readonly random: ((n: number) => Uint8Array) | null;
  private index = 0;
  private failed = false;

  constructor(init: Omit<HandshakeStateInit, 'hash'>, hash: NoiseHash) {
    this.initiator = init.initiator;
    this.backend = init.backend;
    this.pattern = init.pattern;
    this.s = init.s ?? null;
    this.e = init.e ?? null;
    this.rs = init.rs ?? null;
    this.random = init.random ?? null;
    const name = `Noise_${init.pattern.name}_25519_ChaChaPoly_${hash.name}`;
    const preKeys: Uint8Array[] = [];
    for (const t of init.pattern.preResponder) {
      if (t !== 's') throw new TypeError(`unsupported pre-message token ${t}`);
      const preKey = this.initiator ? this.rs : (this.s?.publicKey ?? null);
      if (!preKey) throw new TypeError(`pattern ${init.pattern.name} needs the responder's static key`);
      preKeys.push(preKey);
    }
    // The state after the protocol name, the prologue and the pre-message depends on public
    // values only, the same for every handshake of a responder (its own key) or toward one peer:
    // computed once (three hashes and their allocations per handshake).
    let key = `${name}|${bytesKey(init.prologue)}`;
    for (const k of preKeys) key += `|${bytesKey(k)}`;
    let memo = initialStates.get(hash);
    if (memo === undefined) {
      memo = new Map();
      initialStates.set(hash, memo);
    }
    const initial = memo.get(key);
    if (initial !== undefined) {
      this.ss = new SymmetricState(hash, init.backend, name, initial);
    } else {
      this.ss = new SymmetricState(hash, init.backend, name);
      this.ss.mixHash(init.prologue);
      for (const k of preKeys) this.ss.mixHash(k);
      if (memo.size >= INITIAL_STATES) memo.delete(memo.keys().next().value as string);
      memo.set(key, this.ss.snapshot());
    }
  }

  /** True when it is this side's turn to write. */
  isMyTurn(): boolean {
    return this.index % 2 === (this.initiator ? 0 : 1);
  }

  isComplete(): boolean {
    return this.index >= this.pattern.messages.length;
  }

  remoteStatic(): Uint8Array | null {
    return this.rs;
  }

  handshakeHash(): Uint8Array {
    return this.ss.handshakeHash();
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    if (this.failed || this.isComplete() || !this.isMyTurn())
      throw new RangeError("not this side's turn to write");
    const tokens = this.pattern.messages[this.index] as readonly Token[];
    const parts: Uint8Array[] = [];
    for (const t of tokens) {
      switch (t) {
        case 'e': {
          if (!this.e) {
            if (!this.random) throw new TypeError('"random" is required to generate ephemeral keys');
            const privateKey = this.random(32);
            this.e = { privateKey, publicKey: this.backend.x25519Public(privateKey) };
          }
          parts.push(this.e.publicKey);
          this.ss.mixHash(this.e.publicKey);
          break;
        }
        case 's': {
          if (!this.s) throw new TypeError('local static key required');
          parts.push(this.ss.encryptAndHash(this.s.publicKey));
          break;
        }
        default:
          this.ss.mixKey(this.dh(t));
      }
    }
    parts.push(this.ss.encryptAndHash(payload));
    this.index++;
    return concatBytes(...parts);
  }

  /** Returns the payload, or null if the message is malformed or fails authentication. */
  readMessage(message: Uint8Array): Uint8Array | null {
    if (this.failed || this.isComplete() || this.isMyTurn()) return null;
    try {
      const tokens = this.pattern.messages[this.index] as readonly Token[];
      let o = 0;
      for (const t of tokens) {
        switch (t) {
          case 'e': {
            if (message.length - o < DHLEN) return this.fail();
            this.re = message.slice(o, o + DHLEN);
            o += DHLEN;
            this.ss.mixHash(this.re);
            break;
          }
          case 's': {
            const len = this.ss.cipher.hasKey() ? DHLEN + 16 : DHLEN;
            if (message.length - o < len) return this.fail();
            const rs = this.ss.decryptAndHash(message.subarray(o, o + len));
            if (rs === null) return this.fail();
            this.rs = rs.slice(); // its own bytes: `rs` is a view into the backend's output slab, which a kept key would pin
            o += len;
            break;
          }
          default:
            this.ss.mixKey(this.dh(t));
        }
      }
      const rest = message.subarray(o);
      if (this.ss.cipher.hasKey() && rest.length < 16) return this.fail();
      const payload = this.ss.decryptAndHash(rest);
      if (payload === null) return this.fail();
      this.index++;
      return payload;
    } catch {
      // DH with a low-order point (all-zero output) lands here.
      return this.fail();
    }
  }

  /** An independent copy (to try a message without risking this state: a forged message must
   * not destroy a pending handshake). */
  clone(): this {
    const c = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.assign(c, this);
    const w = c as unknown as {
      ss: SymmetricState;
      e: KeyPair | null;
      re: Uint8Array | null;
      rs: Uint8Array | null;
    };
    w.ss = this.ss.clone();
    w.e = this.e ? { privateKey: this.e.privateKey.slice(), publicKey: this.e.publicKey } : null;
    return c;
  }

  /** After the last message: transport ciphers and the handshake hash (§5.2 Split). */
  split(): SplitResult {
    if (!this.isComplete() || this.failed) throw new RangeError('handshake not complete');
    const [k1, k2] = this.ss.split();
    const c1 = new CipherState(this.backend);
    const c2 = new CipherState(this.backend);
    c1.initializeKey(k1);
    c2.initializeKey(k2);
    k1.fill(0);
    k2.fill(0);
    const handshakeHash = this.ss.handshakeHash();
    this.destroy();
    return this.initiator ? { send: c1, recv: c2, handshakeHash } : { send: c2, recv: c1, handshakeHash };
  }

  /** Zeroes ephemeral and chaining secrets. The static key pair belongs to the caller. */
  destroy(): void {
    this.ss.clear();
    if (this.e) this.e.privateKey.fill(0);
    this.e = null;
    this.failed = true;
  }

  private fail(): null {
    this.destroy();
    return null;
  }

  private dh(t: Token): Uint8Array {
    // es: initiator uses e with rs, responder uses s with re; se mirrors it (§7.1).
    let local: KeyPair | null;
    let remote: Uint8Array | null;
    switch (t) {
      case 'ee':
        local = this.e;
        remote = this.re;
        break;
      case 'ss':
        local = this.s;
        remote = this.rs;
        break;
      case 'es':
        local = this.initiator ? this.e : this.s;
        remote = this.initiator ? this.rs : this.re;
        break;
      case 'se':
        local = this.initiator ? this.s : this.e;
        remote = this.initiator ? this.re : this.rs;
        break;
      default:
        throw new TypeError(`bad token ${t}`);
    }
    if (!local || !remote) throw new TypeError(`missing key for ${t}`);
    return this.backend.x25519(local.privateKey, remote);
  }
}

/**
 * Noise HandshakeState (rev 34 §5.3) for DH 25519, ChaChaPoly, BLAKE2s or SHA256.
 * `writeMessage`/`readMessage` never throw on bad input: `readMessage` returns null (the state
 * is then unusable and the caller must discard it, as §5.3 says for decryption errors).
 */
export class HandshakeState extends NoiseHandshake {
  constructor(init: HandshakeStateInit) {
    super(init, init.hash === 'SHA256' ? SHA256 : blake2sOf(init.backend));
  }
}

/** The initiator's and the responder's handshake state: BLAKE2s (the backend's when it has one). */
export function blake2sHandshake(init: Omit<HandshakeStateInit, 'hash'>): NoiseHandshake {
  return new NoiseHandshake(init, blake2sOf(init.backend));
}
