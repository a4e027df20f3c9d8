import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { x25519 } from '@noble/curves/ed25519.js';
import { writeNoiseNonce } from './bytes.js';

/**
 * HASH and HMAC-HASH of one Noise hash function (Noise rev 34 §4.3; HMAC as RFC 2104 with the
 * hash's 64-byte block). Outputs are fresh 32-byte arrays the caller may zero.
 */
export interface HashFunctions {
  hash(data: Uint8Array): Uint8Array;
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array;
}

/**
 * The primitives whose speed matters, behind one small interface so a platform backend
 * (node:crypto or libsodium, in @srmudp/crypto-node) can replace the portable noble one. Every
 * backend must produce byte-identical output (cross-tested in @srmudp/crypto-node, including the
 * Noise vectors).
 *
 * The AEAD is ChaCha20-Poly1305 (RFC 8439) with the Noise nonce layout: 4 zero bytes followed by
 * the 64-bit counter little-endian (Noise rev 34 §12.3). `counter` is an integer in [0, 2^53).
 */
export interface CryptoBackend {
  readonly name: string;
  /** X25519 shared secret. Throws on an all-zero result (low-order public key). */
  x25519(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** X25519 public key of a 32-byte private key. */
  x25519Public(privateKey: Uint8Array): Uint8Array;
  /** Returns ciphertext || 16-byte tag. When `out` is given (length >= plaintext + 16) the
   * result is written there and a subarray of it is returned. `out` may start where `plaintext`
   * starts (sealing in place, as core does); any other overlap is unsupported. */
  aeadSeal(
    key: Uint8Array,
    counter: number,
    ad: Uint8Array,
    plaintext: Uint8Array,
    out?: Uint8Array,
  ): Uint8Array;
  /** Returns the plaintext, or null when authentication fails (`out` is then left unspecified,
   * but never holds unauthenticated plaintext). */
  aeadOpen(
    key: Uint8Array,
    counter: number,
    ad: Uint8Array,
    ciphertext: Uint8Array,
    out?: Uint8Array,
  ): Uint8Array | null;
  /**
   * Optional BLAKE2s-256 (RFC 7693) and HMAC-BLAKE2s for the Noise handshake (about 15 HMACs and
   * 10 hashes per handshake and side); @noble/hashes' when absent.
   */
  readonly blake2s?: HashFunctions;
  /**
   * Optional faster Ed25519 → X25519 public key conversion (RFC 7748 §4.1; a peer id's Noise
   * static key). Null for any key it does not convert: the caller then converts with noble, the
   * reference, so a stricter implementation (libsodium refuses keys with a small-order component,
   * which noble converts) changes no result, only the speed.
   */
  ed25519ToX25519?(publicKey: Uint8Array): Uint8Array | null;
  /**
   * Optional XChaCha20-Poly1305 seal (24-byte nonce; returns ciphertext || 16-byte tag), for the
   * cookie replies of a responder under load (one per new initiator then); @noble/ciphers' when
   * absent, which costs ~10x libsodium's there.
   */
  xchachaSeal?(key: Uint8Array, nonce: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array;
}

const nonce = new Uint8Array(12);

/** Portable backend on @noble/curves and @noble/ciphers (browsers, Deno, Bun, Node). */
export function nobleBackend(): CryptoBackend {
  return NOBLE;
}

const NOBLE: CryptoBackend = {
  name: 'noble',
  x25519(privateKey, publicKey) {
    // noble rejects an all-zero shared secret itself (RFC 7748 §6.1 check).
    return x25519.getSharedSecret(privateKey, publicKey);
  },
  x25519Public(privateKey) {
    return x25519.getPublicKey(privateKey);
  },
  aeadSeal(key, counter, ad, plaintext, out) {
    writeNoiseNonce(nonce, counter);
    const c = chacha20poly1305(key, nonce, ad);
    if (out) {
      const dst = out.subarray(0, plaintext.length + 16);
      return c.encrypt(plaintext, dst);
    }
    return c.encrypt(plaintext);
  },
  aeadOpen(key, counter, ad, ciphertext, out) {
    if (ciphertext.length < 16) return null;
    writeNoiseNonce(nonce, counter);
    const c = chacha20poly1305(key, nonce, ad);
    try {
      if (out) return c.decrypt(ciphertext, out.subarray(0, ciphertext.length - 16));
      return c.decrypt(ciphertext);
    } catch {
      return null;
    }
  },
};
