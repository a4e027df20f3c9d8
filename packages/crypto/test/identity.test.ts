import { ed25519, x25519 } from '@noble/curves/ed25519.js';
import { describe, expect, it } from 'vitest';
import {
  generateIdentity,
  identityFromSecret,
  isAuthenticatedStaticOf,
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

describe('isAuthenticatedStaticOf: the handshake check of a peer id against its Noise static key', () => {
  const P = (1n << 255n) - 19n;
  const le = (b: Uint8Array) => b.reduceRight((acc, x) => (acc << 8n) | BigInt(x), 0n);
  const bytes = (n: bigint, top = false) => {
    const b = new Uint8Array(32);
    for (let i = 0; i < 32; i++) b[i] = Number((n >> BigInt(8 * i)) & 0xffn);
    if (top) b[31] = (b[31] as number) | 0x80;
    return b;
  };
  /** noble's field: the arithmetic of these tests too */
  const Fp = ed25519.Point.Fp;
  /** whether u is on Curve25519 (v^2 = u^3 + 486662 u^2 + u has a root), not on its twist */
  const onCurve = (u: bigint) => {
    const rhs = Fp.add(Fp.add(Fp.pow(u, 3n), Fp.mul(486662n, Fp.sqr(u))), u);
    try {
      Fp.sqrt(rhs);
      return true;
    } catch {
      return false; // noble's sqrt throws for a non-square
    }
  };
  /** u = (1 + y) / (1 - y), canonical */
  const image = (y: bigint) => Fp.div(Fp.add(Fp.ONE, y), Fp.sub(Fp.ONE, y));
  /** the answer of the conversion (the reference): tryPeerIdToX25519, compared byte for byte */
  const reference = (id: Uint8Array, x: Uint8Array) => {
    const r = tryPeerIdToX25519(id);
    return r !== null && r.length === 32 && r.every((v, i) => v === x[i]);
  };

  it('agrees with the conversion on real keys, their sign twins, one-bit changes and other keys', () => {
    const random = seededRandom(77);
    const ids = Array.from({ length: 300 }, () => generateIdentity(random));
    for (const [i, id] of ids.entries()) {
      const other = (ids[(i + 1) % ids.length] as typeof id).x25519Public;
      const twin = id.publicKey.slice();
      twin[31] = (twin[31] as number) ^ 0x80; // the same y: the same image (RFC 7748 §4.1)
      const bit = id.x25519Public.slice();
      bit[i % 32] = (bit[i % 32] as number) ^ (1 << (i % 8));
      const idBit = id.publicKey.slice();
      idBit[i % 31] = (idBit[i % 31] as number) ^ (1 << (i % 8));
      for (const [k, x] of [
        [id.publicKey, id.x25519Public],
        [id.publicKey, other],
        [twin, id.x25519Public],
        [id.publicKey, bit],
        [idBit, id.x25519Public],
      ] as const) {
        const want = reference(k, x);
        expect(isAuthenticatedStaticOf(k, x)).toBe(want);
      }
      expect(isAuthenticatedStaticOf(id.publicKey, id.x25519Public)).toBe(true);
      expect(isAuthenticatedStaticOf(id.publicKey, other)).toBe(false);
    }
  });

  it('agrees with the conversion on the edge encodings: small order, x = 0, y = 1, non-canonical y and u', () => {
    const cases: [Uint8Array, Uint8Array][] = [];
    // y = -1 (x = 0, order 2): image 0; its sign bit set is refused by strict decoding
    cases.push([bytes(P - 1n), bytes(0n)], [bytes(P - 1n, true), bytes(0n)]);
    // y = 1 (the neutral point): no image
    cases.push([bytes(1n), bytes(0n)], [bytes(1n), bytes(1n)]);
    // y = 0 (x = ±sqrt(-1), order 4): image 1
    cases.push([bytes(0n), bytes(1n)], [bytes(0n, true), bytes(1n)]);
    // the order-8 points of Ed25519 (their y, both signs)
    const y8 = 0x7a03ac9277fdc74ec6cc392cfa53202a0f67100d760b3cba4fd84d3d706a17c7n; // y of an order-8 point
    for (const y of [y8, P - y8])
      for (const top of [false, true]) cases.push([bytes(y, top), bytes(image(y))]);
    // non-canonical: y + p and u + p (both below 2^255), and u with its top bit set
    for (const y of [0n, 3n, 18n]) cases.push([bytes(y + P), bytes(image(y))]);
    const k = generateIdentity(seededRandom(5));
    cases.push([k.publicKey, bytes(le(k.x25519Public), true)]);
    cases.push([k.publicKey, bytes(P + 1n)]);
    // images u below 19 on the curve (twist points: the next test), canonical and as u + p
    // (y = (u - 1) / (u + 1)), both signs of y
    for (let u = 2n; u < 19n; u++) {
      if (!onCurve(u)) continue;
      const y = Fp.div(Fp.sub(u, Fp.ONE), Fp.add(u, Fp.ONE));
      for (const top of [false, true]) cases.push([bytes(y, top), bytes(u)], [bytes(y, top), bytes(u + P)]);
    }
    let converted = 0;
    for (const [id, x] of cases) {
      const want = reference(id, x);
      if (want) converted++;
      expect(isAuthenticatedStaticOf(id, x), `${le(id)} ${le(x)}`).toBe(want);
    }
    expect(converted).toBeGreaterThan(10);
    // wrong lengths
    expect(isAuthenticatedStaticOf(k.publicKey.subarray(1), k.x25519Public)).toBe(false);
    expect(isAuthenticatedStaticOf(k.publicKey, k.x25519Public.subarray(1))).toBe(false);
  });

  it('differs from the conversion only where y has no x: the image is then a twist point, which no handshake authenticates', () => {
    // random y below p: about half have no x on Ed25519; the conversion refuses those, the
    // equation accepts their image u, and u is then not on Curve25519 (v^2 = u^3 + Au^2 + u
    // has no root): on the twist, where X25519 with our secret cannot be reproduced
    const random = seededRandom(99);
    let twist = 0;
    let agree = 0;
    for (let i = 0; i < 200; i++) {
      const y = Fp.create(le(random(32)));
      if (y === 1n) continue;
      const id = bytes(y);
      const u = bytes(image(y));
      const converts = reference(id, u);
      const square = onCurve(image(y));
      expect(isAuthenticatedStaticOf(id, u)).toBe(true);
      if (converts) {
        agree++;
        expect(square).toBe(true);
      } else {
        twist++;
        expect(square).toBe(false);
        expect(tryPeerIdToX25519(id)).toBeNull();
      }
    }
    expect(twist).toBeGreaterThan(50);
    expect(agree).toBeGreaterThan(50);
  });
});
