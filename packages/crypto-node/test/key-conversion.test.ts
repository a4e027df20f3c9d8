// The libsodium Ed25519 -> X25519 conversion behind @srmudp/crypto's peerIdToX25519: the same
// results as noble's for every key (libsodium's refusals fall back to noble), only faster.
import { ed25519 } from '@noble/curves/ed25519.js';
import { type CryptoBackend, generateIdentity, peerIdToX25519, tryPeerIdToX25519 } from '@srmudp/crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { randomBytes, sodiumBackend } from '../src/index.js';

const sodium = sodiumBackend() as CryptoBackend;
const RUNS = Number(process.env.SRMUDP_PROPERTY_RUNS ?? 300);

/** noble's conversion, null where it throws (the reference for tryPeerIdToX25519) */
function nobleOrNull(key: Uint8Array): Uint8Array | null {
  try {
    return ed25519.utils.toMontgomery(key);
  } catch {
    return null;
  }
}

/** (0, -1): the Edwards point of order 2; y = p - 1, little-endian. */
const ORDER2 = Uint8Array.of(0xec, ...new Array(30).fill(0xff), 0x7f);

describe('Ed25519 -> X25519 through the libsodium backend', () => {
  it('equals noble on valid keys', () => {
    const convert = sodium.ed25519ToX25519?.bind(sodium);
    expect(convert).toBeDefined();
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const pk = ed25519.getPublicKey(seed);
        expect(convert?.(pk)).toEqual(ed25519.utils.toMontgomery(pk));
      }),
      { numRuns: RUNS },
    );
  });

  it('refuses small-order and mixed-order keys, which then convert as noble converts them', () => {
    const id = generateIdentity(randomBytes);
    const mixed = ed25519.Point.fromBytes(id.publicKey).add(ed25519.Point.fromBytes(ORDER2)).toBytes();
    const identityPoint = Uint8Array.of(1, ...new Array(31).fill(0));
    expect(nobleOrNull(mixed)).not.toBeNull(); // noble converts a mixed-order key, libsodium does not
    for (const key of [mixed, ORDER2, identityPoint]) {
      expect(sodium.ed25519ToX25519?.(key)).toBeNull();
      // none of these keys was converted before in this process: no cache hit, the backend is asked
      expect(tryPeerIdToX25519(key.slice(), sodium)).toEqual(nobleOrNull(key));
    }
    const notAPoint = new Uint8Array(32).fill(0xff);
    expect(sodium.ed25519ToX25519?.(notAPoint)).toBeNull();
    expect(tryPeerIdToX25519(notAPoint, sodium)).toBeNull();
    expect(() => peerIdToX25519(notAPoint, sodium)).toThrow(
      expect.objectContaining({ code: 'INVALID_PEER_ID' }),
    );
    expect(sodium.ed25519ToX25519?.(new Uint8Array(31))).toBeNull();
  });

  it('peerIdToX25519 with the backend gives the identity its own X25519 key', () => {
    for (let i = 0; i < 20; i++) {
      const id = generateIdentity(randomBytes);
      expect(peerIdToX25519(id.publicKey, sodium)).toEqual(id.x25519Public);
    }
  });
});
