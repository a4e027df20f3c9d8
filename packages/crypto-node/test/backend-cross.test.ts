import { randomBytes as nodeRandom } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { blake2s } from '@noble/hashes/blake2.js';
import { hmac } from '@noble/hashes/hmac.js';
import {
  type CryptoBackend,
  generateIdentity,
  type HandshakeLimits,
  nobleBackend,
  SecureEndpoint,
} from '@srmudp/crypto';
import type { Address } from '@srmudp/wire';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeBackend, randomBytes, sodiumBackend, sodiumUnavailableReason } from '../src/index.js';

const RUNS = Number(process.env.SRMUDP_PROPERTY_RUNS ?? 300);
const noble = nobleBackend();
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

/** Four rounds of handshake datagrams between two endpoints (no loss, time 0). */
function exchange(a: SecureEndpoint, addrA: Address, b: SecureEndpoint, addrB: Address): void {
  for (let i = 0; i < 4; i++) {
    for (let t = a.pollTransmit(0); t; t = a.pollTransmit(0)) b.handle(0, addrA, t.data);
    for (let t = b.pollTransmit(0); t; t = b.pollTransmit(0)) a.handle(0, addrB, t.data);
  }
}

/** Two endpoints with fresh identities: `a` on `backendA`, `b` on `backendB` (with `limitsB`). */
function pair(
  backendA: CryptoBackend,
  backendB: CryptoBackend,
  limitsB?: Partial<HandshakeLimits>,
): { a: SecureEndpoint; addrA: Address; b: SecureEndpoint; addrB: Address } {
  const endpoint = (backend: CryptoBackend, limits?: Partial<HandshakeLimits>) =>
    new SecureEndpoint({
      identity: generateIdentity(randomBytes),
      random: randomBytes,
      backend,
      ...(limits === undefined ? {} : { limits }),
    });
  return {
    a: endpoint(backendA),
    addrA: { host: '192.0.2.1', port: 1 },
    b: endpoint(backendB, limitsB),
    addrB: { host: '192.0.2.2', port: 1 },
  };
}

// sodium-native ships prebuilds for the platforms CI runs on: here it must load
const sodium = sodiumBackend();
it('sodium-native loads on this platform', () => {
  expect(sodiumUnavailableReason()).toBeNull();
  expect(sodium?.name).toBe('sodium');
});

it('sodium xchachaSeal (cookie replies) = @noble/ciphers XChaCha20-Poly1305, byte for byte', () => {
  const seal = sodium?.xchachaSeal;
  expect(seal).toBeTypeOf('function');
  fc.assert(
    fc.property(key32, bytes(24, 24), bytes(0, 32), bytes(0, 64), (key, nonce, ad, pt) => {
      const sealed = (seal as NonNullable<typeof seal>)(key, nonce, ad, pt);
      expect(sealed).toEqual(xchacha20poly1305(key, nonce, ad).encrypt(pt));
      expect(xchacha20poly1305(key, nonce, ad).decrypt(sealed)).toEqual(pt);
    }),
    { numRuns: RUNS },
  );
});

it('a libsodium responder under load seals its cookie reply with libsodium; a noble initiator opens it and connects', () => {
  let sealed = 0;
  const s = sodium as CryptoBackend;
  const counted: CryptoBackend = {
    ...s,
    xchachaSeal: (...args) => {
      sealed++;
      return (s.xchachaSeal as NonNullable<CryptoBackend['xchachaSeal']>)(...args);
    },
  };
  // always under load: every new initiator gets a cookie first
  const { a: initiator, addrA, b: responder, addrB } = pair(noble, counted, { loadThreshold: 0 });
  const ch = initiator.connect(0, { address: addrB, remoteKey: responder.identity.publicKey });
  exchange(initiator, addrA, responder, addrB);
  expect(sealed).toBe(1);
  expect(initiator.stats().cookieRepliesAccepted).toBe(1);
  expect(ch.isEstablished).toBe(true);
});

for (const node of [nodeBackend(), sodium as CryptoBackend])
  describe(`${node.name} backend = noble backend, byte for byte`, () => {
    it('aeadSeal/aeadOpen on random keys, counters, AD and plaintexts', () => {
      fc.assert(
        fc.property(
          key32,
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          bytes(0, 64),
          bytes(0, 1500),
          (key, counter, ad, pt) => {
            const a = noble.aeadSeal(key, counter, ad, pt);
            const b = node.aeadSeal(key, counter, ad, pt);
            expect(b).toEqual(a);
            expect(node.aeadOpen(key, counter, ad, a)).toEqual(pt);
            expect(noble.aeadOpen(key, counter, ad, b)).toEqual(pt);
          },
        ),
        { numRuns: RUNS },
      );
    });

    it('both reject the same tampered ciphertexts', () => {
      fc.assert(
        fc.property(
          key32,
          fc.nat(1000),
          bytes(0, 16),
          bytes(0, 200),
          fc.nat(),
          (key, counter, ad, pt, where) => {
            const c = noble.aeadSeal(key, counter, ad, pt);
            const pos = where % c.length;
            c[pos] = (c[pos] as number) ^ 0x80;
            expect(noble.aeadOpen(key, counter, ad, c)).toBeNull();
            expect(node.aeadOpen(key, counter, ad, c)).toBeNull();
            expect(node.aeadOpen(key, counter + 1, ad, noble.aeadSeal(key, counter, ad, pt))).toBeNull();
          },
        ),
        { numRuns: RUNS },
      );
    });

    it('writes into a caller buffer', () => {
      const key = randomBytes(32);
      const out = new Uint8Array(100);
      const pt = randomBytes(50);
      const sealed = node.aeadSeal(key, 7, new Uint8Array(3), pt, out);
      expect(sealed.buffer).toBe(out.buffer);
      expect(sealed).toEqual(noble.aeadSeal(key, 7, new Uint8Array(3), pt));
      const opened = node.aeadOpen(key, 7, new Uint8Array(3), sealed, new Uint8Array(80));
      expect(opened).toEqual(pt);
      expect(node.aeadOpen(key, 7, new Uint8Array(3), new Uint8Array(15))).toBeNull();
    });

    it('seals in place (out starting at the plaintext, as core does) byte for byte like noble', () => {
      fc.assert(
        fc.property(key32, fc.nat(1000), bytes(0, 13), bytes(0, 1500), (key, counter, ad, pt) => {
          const expected = noble.aeadSeal(key, counter, ad, pt);
          for (const b of [node, noble]) {
            // header room before the plaintext, tag room after it: one buffer, as a datagram
            const buf = new Uint8Array(13 + pt.length + 16);
            buf.set(pt, 13);
            const sealed = b.aeadSeal(key, counter, ad, buf.subarray(13, 13 + pt.length), buf.subarray(13));
            expect(sealed.byteOffset).toBe(13);
            expect(sealed).toEqual(expected);
          }
        }),
        { numRuns: RUNS },
      );
    });

    it('opens in place (out starting at the ciphertext, as core does) and refuses tampering in place', () => {
      fc.assert(
        fc.property(
          key32,
          fc.nat(1000),
          bytes(0, 13),
          bytes(0, 1500),
          fc.nat(),
          (key, counter, ad, pt, where) => {
            const sealed = noble.aeadSeal(key, counter, ad, pt);
            for (const b of [node, noble]) {
              const dg = new Uint8Array(13 + sealed.length);
              dg.set(sealed, 13);
              const opened = b.aeadOpen(key, counter, ad, dg.subarray(13), dg.subarray(13, dg.length - 16));
              expect(opened).toEqual(pt);
              expect(opened?.buffer).toBe(dg.buffer);
              const bad = new Uint8Array(13 + sealed.length);
              bad.set(sealed, 13);
              const pos = 13 + (where % sealed.length);
              bad[pos] = (bad[pos] as number) ^ 0x80;
              expect(
                b.aeadOpen(key, counter, ad, bad.subarray(13), bad.subarray(13, bad.length - 16)),
              ).toBeNull();
            }
          },
        ),
        { numRuns: RUNS },
      );
    });

    it('x25519 and x25519Public on random keys', () => {
      fc.assert(
        fc.property(key32, key32, (a, b) => {
          const pa = noble.x25519Public(a);
          expect(node.x25519Public(a.slice())).toEqual(pa);
          const pb = noble.x25519Public(b);
          expect(node.x25519(a.slice(), pb)).toEqual(noble.x25519(a, pb));
          expect(node.x25519(b.slice(), pa)).toEqual(noble.x25519(a, pb));
        }),
        { numRuns: Math.min(RUNS, 100) },
      );
    });

    it('both refuse low-order public keys (all-zero shared secret)', () => {
      const priv = new Uint8Array(nodeRandom(32));
      for (const lowOrder of [new Uint8Array(32), Uint8Array.of(1, ...new Array(31).fill(0))]) {
        expect(() => noble.x25519(priv, lowOrder)).toThrow();
        expect(() => node.x25519(priv.slice(), lowOrder)).toThrow();
      }
    });

    it('BLAKE2s and HMAC-BLAKE2s (when the backend has them) equal those of noble', () => {
      const own = node.blake2s;
      expect(own).toBeDefined(); // node:crypto here has blake2s256
      if (!own) return;
      fc.assert(
        fc.property(bytes(0, 300), bytes(0, 100), (data, key) => {
          expect(own.hash(data)).toEqual(blake2s(data));
          expect(own.hmac(key, data)).toEqual(hmac(blake2s, key, data));
        }),
        { numRuns: RUNS },
      );
    });

    it('writes into a caller buffer of exactly the right size and opens in place', () => {
      const key = randomBytes(32);
      const pt = randomBytes(1400);
      const ad = randomBytes(13);
      const datagram = new Uint8Array(13 + 1400 + 16);
      datagram.set(ad);
      const sealed = node.aeadSeal(key, 5, ad, pt, datagram.subarray(13));
      expect(sealed.byteOffset).toBe(datagram.byteOffset + 13);
      expect(sealed).toEqual(noble.aeadSeal(key, 5, ad, pt));
      // in place: plaintext over its own ciphertext
      const opened = node.aeadOpen(key, 5, ad, sealed, sealed.subarray(0, 1400));
      expect(opened).toEqual(pt);
      expect(node.aeadOpen(key, 5, ad, new Uint8Array(16))).toBeNull();
    });

    it('an empty plaintext and an empty AD', () => {
      const key = randomBytes(32);
      const e = new Uint8Array(0);
      const c = node.aeadSeal(key, 0, e, e);
      expect(c).toEqual(noble.aeadSeal(key, 0, e, e));
      expect(node.aeadOpen(key, 0, e, c)).toEqual(e);
    });

    it(`a ${node.name}-backend endpoint and a noble-backend endpoint complete IK and exchange data`, () => {
      const { a, addrA, b, addrB } = pair(node, noble);
      const ch = a.connect(0, { address: addrB, remoteKey: b.identity.publicKey });
      exchange(a, addrA, b, addrB);
      expect(ch.isEstablished).toBe(true);
      const r = b.handle(0, addrA, ch.seal(0, Uint8Array.of(1, 2, 3)));
      expect(r).toMatchObject({ type: 'data', plaintext: Uint8Array.of(1, 2, 3) });
      const bch = b.channel(a.identity.publicKey);
      expect(a.handle(0, addrB, bch?.seal(0, Uint8Array.of(4)) as Uint8Array)).toMatchObject({
        type: 'data',
        plaintext: Uint8Array.of(4),
      });
    });
  });
