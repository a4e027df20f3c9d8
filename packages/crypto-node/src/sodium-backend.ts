import { createRequire } from 'node:module';
import { type CryptoBackend, writeNoiseNonce } from '@srmudp/crypto';
import { ByteSlab } from '@srmudp/wire';
import { NODE_BLAKE2S } from './node-backend.js';

/** sodium-native's AEAD encryption: ciphertext || tag into `c`. */
type AeadEncrypt = (
  c: Uint8Array,
  m: Uint8Array,
  ad: Uint8Array | null,
  nsec: null,
  npub: Uint8Array,
  k: Uint8Array,
) => number;

/** The part of sodium-native's API this backend calls (sodium-native ≥ 4: any typed array). */
export interface SodiumApi {
  crypto_aead_chacha20poly1305_ietf_encrypt: AeadEncrypt;
  /** Throws when the tag does not verify. */
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  crypto_aead_xchacha20poly1305_ietf_encrypt?: AeadEncrypt;
  /** Throws when the result is all zero (low-order point). */
  crypto_scalarmult(q: Uint8Array, n: Uint8Array, p: Uint8Array): void;
  crypto_scalarmult_base(q: Uint8Array, n: Uint8Array): void;
  /** Throws for a key that is not a point of the prime-order subgroup. */
  crypto_sign_ed25519_pk_to_curve25519?(x25519pk: Uint8Array, ed25519pk: Uint8Array): void;
}

let loaded: { api: SodiumApi } | { error: string } | null = null;

/** Loads sodium-native once (an optional dependency: absent, or no prebuild for this platform). */
function load(): { api: SodiumApi } | { error: string } {
  if (loaded === null) {
    try {
      const api = createRequire(import.meta.url)('sodium-native') as SodiumApi;
      if (typeof api?.crypto_aead_chacha20poly1305_ietf_encrypt !== 'function')
        throw new Error('sodium-native lacks crypto_aead_chacha20poly1305_ietf_encrypt');
      loaded = { api };
    } catch (err) {
      loaded = { error: String((err as Error)?.message ?? err).split('\n')[0] as string };
    }
  }
  return loaded;
}

let backend: CryptoBackend | null = null;

/**
 * libsodium (through `sodium-native`, the binding Holepunch ships with prebuilt binaries) backend
 * for @srmudp/crypto: ChaCha20-Poly1305 IETF, X25519, the Ed25519 → X25519 key conversion and
 * the XChaCha20-Poly1305 of cookie replies in libsodium, BLAKE2s from node:crypto (libsodium has BLAKE2b only). Byte-identical to `nobleBackend()` (cross-tested, Noise vectors).
 * Null when sodium-native cannot be loaded here ({@link sodiumUnavailableReason} says why).
 */
export function sodiumBackend(): CryptoBackend | null {
  if (backend === null) {
    const l = load();
    if ('api' in l) backend = createSodiumBackend(l.api);
  }
  return backend;
}

/** Why {@link sodiumBackend} returned null (the load error), or null when it loads. */
export function sodiumUnavailableReason(): string | null {
  const l = load();
  return 'error' in l ? l.error : null;
}

/**
 * The backend over a given sodium-native module (exported for tests). Allocation-free on the
 * packet path when the caller passes `out`: sodium-native works on any typed array and writes
 * straight into it (the nonce is one module-level array). `aeadOpen` without `out` carves its
 * output from a private 16 KiB slab (one ArrayBuffer per ~10 packets instead of one per packet;
 * a retained plaintext keeps at most its 16 KiB slab alive, like Node's own Buffer pool).
 */
export function createSodiumBackend(sodium: SodiumApi): CryptoBackend {
  const nonce = new Uint8Array(12);
  const opened = new ByteSlab(16 * 1024);
  const toCurve = sodium.crypto_sign_ed25519_pk_to_curve25519?.bind(sodium);
  const xchacha = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt?.bind(sodium);
  return {
    name: 'sodium',
    ...(NODE_BLAKE2S ? { blake2s: NODE_BLAKE2S } : {}),
    x25519(privateKey, publicKey) {
      const q = new Uint8Array(32);
      try {
        // libsodium returns -1 (sodium-native throws) for an all-zero result, RFC 7748 §6.1
        sodium.crypto_scalarmult(q, privateKey, publicKey);
      } catch (cause) {
        if (privateKey.length !== 32 || publicKey.length !== 32)
          throw new TypeError('"privateKey" and "publicKey" expected Uint8Array of length 32', { cause });
        throw new RangeError('X25519 shared secret is zero (low-order public key)', { cause });
      }
      return q;
    },
    x25519Public(privateKey) {
      if (privateKey.length !== 32)
        throw new TypeError(`"privateKey" expected Uint8Array of length 32, got length=${privateKey.length}`);
      const q = new Uint8Array(32);
      sodium.crypto_scalarmult_base(q, privateKey);
      return q;
    },
    ...(toCurve
      ? {
          ed25519ToX25519(publicKey: Uint8Array): Uint8Array | null {
            // libsodium refuses small-order and mixed-order keys that noble converts: null
            // then, and @srmudp/crypto converts with noble (same results, only faster)
            if (publicKey.length !== 32) return null;
            const x = new Uint8Array(32);
            try {
              toCurve(x, publicKey);
            } catch {
              return null;
            }
            return x;
          },
        }
      : {}),
    ...(xchacha
      ? {
          xchachaSeal(key: Uint8Array, npub: Uint8Array, ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
            const c = new Uint8Array(plaintext.length + 16);
            xchacha(c, plaintext, ad, null, npub, key);
            return c;
          },
        }
      : {}),
    aeadSeal(key, counter, ad, plaintext, out) {
      writeNoiseNonce(nonce, counter);
      const n = plaintext.length + 16;
      const dst = out ? (out.length === n ? out : out.subarray(0, n)) : new Uint8Array(n);
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(dst, plaintext, ad, null, nonce, key);
      return dst;
    },
    aeadOpen(key, counter, ad, ciphertext, out) {
      const n = ciphertext.length - 16;
      if (n < 0) return null;
      if (key.length !== 32)
        throw new TypeError(`"key" expected Uint8Array of length 32, got length=${key.length}`);
      writeNoiseNonce(nonce, counter);
      const dst = out ? (out.length === n ? out : out.subarray(0, n)) : opened.take(n);
      try {
        // libsodium checks the tag before it decrypts (and zeroes `dst` on failure)
        sodium.crypto_aead_chacha20poly1305_ietf_decrypt(dst, null, ciphertext, ad, nonce, key);
      } catch {
        return null;
      }
      return dst;
    },
  };
}
