import type { CryptoBackend } from '../backend.js';

/** Noise CipherState (rev 34 §5.1) for ChaChaPoly. */
export class CipherState {
  private k: Uint8Array | null = null;
  /** Next nonce. Noise allows 2^64-1 messages; we stop at 2^53-1 (JS integers), far beyond any
   * rekey threshold. */
  n = 0;
  constructor(private readonly backend: CryptoBackend) {}

  initializeKey(key: Uint8Array | null): void {
    if (this.k) this.k.fill(0);
    this.k = key ? key.slice() : null;
    this.n = 0;
  }

  hasKey(): boolean {
    return this.k !== null;
  }

  /** The key (for Split into transport state); null when empty. */
  key(): Uint8Array | null {
    return this.k;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (!this.k) return plaintext.slice();
    if (this.n >= Number.MAX_SAFE_INTEGER) throw new RangeError('nonce exhausted');
    const out = this.backend.aeadSeal(this.k, this.n, ad, plaintext);
    this.n++;
    return out;
  }

  /** Returns null on authentication failure; the nonce then does not advance (§5.1). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    if (!this.k) return ciphertext.slice();
    if (this.n >= Number.MAX_SAFE_INTEGER) return null;
    const out = this.backend.aeadOpen(this.k, this.n, ad, ciphertext);
    if (out === null) return null;
    this.n++;
    return out;
  }

  clone(): CipherState {
    const c = new CipherState(this.backend);
    c.k = this.k ? this.k.slice() : null;
    c.n = this.n;
    return c;
  }

  clear(): void {
    if (this.k) this.k.fill(0);
    this.k = null;
  }
}
