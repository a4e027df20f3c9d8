import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  generateIdentity,
  identityFromSecret,
  peerIdToX25519,
  signWithIdentity,
  tryPeerIdToX25519,
  verifySignature,
  wipeIdentity,
} from '../src/identity.js';
import { seededRandom } from './helpers.js';

describe('identity', () => {
  it('derives a consistent Ed25519 / X25519 pair from the seed', () => {
    const random = seededRandom(42);
    for (let i = 0; i < 20; i++) {
      const id = generateIdentity(random);
      expect(id.publicKey).toEqual(ed25519.getPublicKey(id.secret));
      expect(x25519.getPublicKey(id.x25519Private)).toEqual(id.x25519Public);
      expect(peerIdToX25519(id.publicKey)).toEqual(id.x25519Public);
      expect(identityFromSecret(id.secret).publicKey).toEqual(id.publicKey);
    }
  });

  it('two identities agree on an X25519 secret (keys usable for Noise)', () => {
    const a = generateIdentity(seededRandom(1));
    const b = generateIdentity(seededRandom(2));
    expect(x25519.getSharedSecret(a.x25519Private, b.x25519Public)).toEqual(
      x25519.getSharedSecret(b.x25519Private, a.x25519Public),
    );
  });

  it('signs and verifies; rejects other keys, messages, malformed input', () => {
    const a = generateIdentity(seededRandom(3));
    const b = generateIdentity(seededRandom(4));
    const msg = new TextEncoder().encode('record v1');
    const sig = signWithIdentity(a, msg);
    expect(sig).toHaveLength(64);
    expect(verifySignature(a.publicKey, msg, sig)).toBe(true);
    expect(verifySignature(b.publicKey, msg, sig)).toBe(false);
    expect(verifySignature(a.publicKey, new TextEncoder().encode('record v2'), sig)).toBe(false);
    const bad = sig.slice();
    bad[10] = (bad[10] as number) ^ 1;
    expect(verifySignature(a.publicKey, msg, bad)).toBe(false);
    expect(verifySignature(a.publicKey, msg, sig.subarray(0, 63))).toBe(false);
    expect(verifySignature(new Uint8Array(31), msg, sig)).toBe(false);
    expect(verifySignature(new Uint8Array(32).fill(0xff), msg, sig)).toBe(false);
    expect(verifySignature(a.publicKey, 'x' as unknown as Uint8Array, sig)).toBe(false);
  });

  it('checks argument types exactly and wipes secrets', () => {
    expect(() => identityFromSecret(new Uint8Array(31))).toThrow(
      new TypeError('"secret" expected Uint8Array of length 32, got length=31'),
    );
    expect(() => peerIdToX25519(new Uint8Array(32).fill(0xff))).toThrow(
      expect.objectContaining({ code: 'INVALID_PEER_ID' }),
    );
    const id = generateIdentity(seededRandom(5));
    wipeIdentity(id);
    expect(id.secret.every((b) => b === 0)).toBe(true);
    expect(id.x25519Private.every((b) => b === 0)).toBe(true);
  });

  it('caches conversions per peer id: same result, copies, invalid keys still refused, bounded', () => {
    const random = seededRandom(6);
    const ids = Array.from({ length: 1100 }, () => generateIdentity(random)); // above the cache size
    for (const round of [0, 1]) {
      for (const id of ids) {
        const x = peerIdToX25519(id.publicKey);
        expect(x).toEqual(id.x25519Public);
        x.fill(0); // a caller zeroing its copy must not poison the cache
        expect(tryPeerIdToX25519(id.publicKey)).toEqual(id.x25519Public);
        if (round === 1) expect(peerIdToX25519(id.publicKey.slice())).toEqual(id.x25519Public);
      }
    }
    for (let i = 0; i < 2; i++) {
      expect(tryPeerIdToX25519(new Uint8Array(32).fill(0xff))).toBeNull();
      expect(tryPeerIdToX25519(new Uint8Array(31))).toBeNull();
      expect(tryPeerIdToX25519('x' as unknown as Uint8Array)).toBeNull();
    }
  });
});
