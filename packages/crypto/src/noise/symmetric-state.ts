import type { CryptoBackend } from '../backend.js';
import { CipherState } from './cipher-state.js';
import { HASHLEN, hkdf, type NoiseHash } from './hash.js';

/** Noise SymmetricState (rev 34 §5.2). */
export class SymmetricState {
  cipher: CipherState;
  private ck: Uint8Array;
  private h: Uint8Array;

  /**
   * InitializeSymmetric(protocol_name) (§5.2), or, with `initial`, the state it and the MixHash
   * calls after it produced before (public values: see HandshakeState's initial-state cache);
   * `initial` is copied.
   */
  constructor(
    private readonly hashFn: NoiseHash,
    backend: CryptoBackend,
    protocolName: string,
    initial?: { ck: Uint8Array; h: Uint8Array },
  ) {
    this.cipher = new CipherState(backend);
    if (initial) {
      this.ck = initial.ck.slice();
      this.h = initial.h.slice();
      return;
    }
    const name = new TextEncoder().encode(protocolName);
    if (name.length <= HASHLEN) {
      this.h = new Uint8Array(HASHLEN);
      this.h.set(name, 0);
    } else {
      this.h = hashFn.hash(name);
    }
    this.ck = this.h.slice();
  }

  /** The chaining key and handshake hash (copies), before any key is mixed in. */
  snapshot(): { ck: Uint8Array; h: Uint8Array } {
    return { ck: this.ck.slice(), h: this.h.slice() };
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, temp] = hkdf(this.hashFn, this.ck, ikm, 2) as [Uint8Array, Uint8Array];
    this.ck.fill(0);
    this.ck = ck;
    // HASHLEN is 32 = the ChaChaPoly key length: no truncation needed.
    this.cipher.initializeKey(temp);
    temp.fill(0);
  }

  mixHash(data: Uint8Array): void {
    const buf = new Uint8Array(HASHLEN + data.length);
    buf.set(this.h, 0);
    buf.set(data, HASHLEN);
    this.h = this.hashFn.hash(buf);
  }

  handshakeHash(): Uint8Array {
    return this.h.slice();
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(c);
    return c;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array | null {
    const p = this.cipher.decryptWithAd(this.h, ciphertext);
    if (p === null) return null;
    this.mixHash(ciphertext);
    return p;
  }

  /** Returns the two transport keys (initiator→responder, responder→initiator). */
  split(): [Uint8Array, Uint8Array] {
    const [k1, k2] = hkdf(this.hashFn, this.ck, new Uint8Array(0), 2) as [Uint8Array, Uint8Array];
    return [k1, k2];
  }

  clone(): SymmetricState {
    const c = Object.create(SymmetricState.prototype) as SymmetricState;
    const self = this as unknown as { hashFn: NoiseHash; ck: Uint8Array; h: Uint8Array };
    const dst = c as unknown as { hashFn: NoiseHash; ck: Uint8Array; h: Uint8Array; cipher: CipherState };
    dst.hashFn = self.hashFn;
    dst.ck = self.ck.slice();
    dst.h = self.h.slice();
    dst.cipher = this.cipher.clone();
    return c;
  }

  clear(): void {
    this.ck.fill(0);
    this.cipher.clear();
  }
}
