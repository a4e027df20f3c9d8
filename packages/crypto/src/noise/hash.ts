import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { CryptoBackend } from '../backend.js';

/** A Noise hash function (rev 34 §4.3). Both supported ones have HASHLEN 32 and BLOCKLEN 64. */
export interface NoiseHash {
  readonly name: 'BLAKE2s' | 'SHA256';
  hash(data: Uint8Array): Uint8Array;
  hmac(key: Uint8Array, data: Uint8Array): Uint8Array;
}

export const HASHLEN = 32;

export const BLAKE2S: NoiseHash = {
  name: 'BLAKE2s',
  hash: (data) => blake2s(data),
  hmac: (key, data) => hmac(blake2s, key, data),
};

const backendHashes = new WeakMap<CryptoBackend, NoiseHash>();

/** The backend's BLAKE2s when it has one (node:crypto's is ~3x faster per HMAC than noble's),
 * otherwise noble's. One object per backend (it keys the initial-state cache of
 * handshake-state.ts). */
export function blake2sOf(backend: CryptoBackend): NoiseHash {
  const b = backend.blake2s;
  if (!b) return BLAKE2S;
  let h = backendHashes.get(backend);
  if (h === undefined) {
    h = { name: 'BLAKE2s', hash: b.hash, hmac: b.hmac };
    backendHashes.set(backend, h);
  }
  return h;
}

export const SHA256: NoiseHash = {
  name: 'SHA256',
  hash: (data) => sha256(data),
  hmac: (key, data) => hmac(sha256, key, data),
};

const ONE = Uint8Array.of(1);

/** HKDF as Noise defines it (rev 34 §4.3): two or three 32-byte outputs. */
export function hkdf(h: NoiseHash, chainingKey: Uint8Array, ikm: Uint8Array, outputs: 2 | 3): Uint8Array[] {
  const temp = h.hmac(chainingKey, ikm);
  const out1 = h.hmac(temp, ONE);
  const in2 = new Uint8Array(HASHLEN + 1);
  in2.set(out1, 0);
  in2[HASHLEN] = 2;
  const out2 = h.hmac(temp, in2);
  if (outputs === 2) {
    temp.fill(0);
    in2.fill(0);
    return [out1, out2];
  }
  in2.set(out2, 0);
  in2[HASHLEN] = 3;
  const out3 = h.hmac(temp, in2);
  temp.fill(0);
  in2.fill(0);
  return [out1, out2, out3];
}
