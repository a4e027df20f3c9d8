import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../src/identity.js';
import {
  checkAppOptions,
  decodePayload,
  encodePayload,
  identifiedSender,
  OptionType,
  packOptions,
  unpackOptions,
} from '../src/options.js';

describe('handshake payload options (TLV)', () => {
  it('round-trips the crypto fields and application options', () => {
    const app = new Map([
      [0x10, Uint8Array.of(1, 2)],
      [0xff, new Uint8Array(255).fill(7)],
    ]);
    const id = new Uint8Array(32).fill(3);
    const timestamp = Uint8Array.of(0x40, 0, 0, 0, 0x6a, 1, 2, 3, 0x3b, 0x9a, 0xc9, 0xff);
    const p = decodePayload(
      encodePayload({ senderIndex: 0xdeadbeef, identityKey: id, keyPhase: 1, timestamp, app }),
    );
    expect(p).toEqual({ senderIndex: 0xdeadbeef, identityKey: id, keyPhase: 1, timestamp, app });
  });

  it('ignores unknown crypto-reserved types and rejects malformed lists', () => {
    expect(decodePayload(Uint8Array.of(0x0e, 2, 9, 9, OptionType.KeyPhase, 1, 0))).toEqual({
      senderIndex: null,
      identityKey: null,
      keyPhase: 0,
      timestamp: null,
      app: new Map(),
    });
    for (const bad of [
      Uint8Array.of(OptionType.SenderIndex, 3, 0, 0, 1), // wrong length
      Uint8Array.of(OptionType.Timestamp, 8, 0, 0, 0, 0, 0, 0, 0, 0), // wrong length
      Uint8Array.of(OptionType.KeyPhase, 1, 2), // bad value
      Uint8Array.of(0x10, 5, 1), // truncated
      Uint8Array.of(0x10), // truncated header
      Uint8Array.of(0x10, 0, 0x10, 0), // duplicate
      Uint8Array.of(OptionType.KeyPhase, 1, 0, 0x10, 0, OptionType.KeyPhase, 1, 1), // duplicate crypto type
      Uint8Array.of(0x1f, 0, 0x1f, 0), // duplicate, the last type of the bit mask
      Uint8Array.of(0xff, 1, 7, 0x20, 0, 0xff, 0), // duplicate above 31
    ]) {
      expect(decodePayload(bad)).toBeNull();
    }
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const r = decodePayload(b);
        expect(r === null || typeof r === 'object').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('validates application options given by the caller', () => {
    expect(() => checkAppOptions(new Map([[0x05, new Uint8Array(1)]]))).toThrow(
      new RangeError('option type must be an integer in [16, 255], got 5'),
    );
    expect(() => checkAppOptions(new Map([[0x20, new Uint8Array(256)]]))).toThrow(
      new RangeError('option 32 value must be a Uint8Array of at most 255 bytes'),
    );
  });

  it('packs options into a string and back (how a channel keeps the peer options)', () => {
    expect(packOptions(new Map())).toBeNull();
    expect(unpackOptions(null)).toEqual(new Map());
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.integer({ min: 0x10, max: 0xff }), fc.uint8Array({ maxLength: 255 })), {
          selector: (e) => e[0],
          maxLength: 6,
        }),
        (entries) => {
          const m = new Map(entries);
          const packed = packOptions(m);
          expect(packed === null).toBe(m.size === 0);
          expect(unpackOptions(packed)).toEqual(m);
        },
      ),
    );
  });
});

describe('identifiedSender: the payload binds the identity the Noise static key proved', () => {
  const random = (n: number) => new Uint8Array(randomBytes(n));
  const alice = generateIdentity(random);
  const mallory = generateIdentity(random);
  const payload = (identityKey?: Uint8Array) =>
    encodePayload({ senderIndex: 7, ...(identityKey ? { identityKey } : {}) });

  it('accepts the identity key its static key is authenticated as, with the packet sender index', () => {
    const s = identifiedSender(payload(alice.publicKey), 7, alice.x25519Public);
    expect(s?.identityKey).toEqual(alice.publicKey);
    expect(s?.remoteStatic).toBe(alice.x25519Public);
    expect(s?.payload.senderIndex).toBe(7);
  });

  it('refuses another identity, another sender index, no identity, no static key, a malformed payload', () => {
    // mallory proves its own static key but names alice (impersonation), or the reverse
    expect(identifiedSender(payload(alice.publicKey), 7, mallory.x25519Public)).toBeNull();
    expect(identifiedSender(payload(mallory.publicKey), 7, alice.x25519Public)).toBeNull();
    expect(identifiedSender(payload(alice.publicKey), 8, alice.x25519Public)).toBeNull();
    expect(
      identifiedSender(encodePayload({ identityKey: alice.publicKey }), 7, alice.x25519Public),
    ).toBeNull();
    expect(identifiedSender(payload(), 7, alice.x25519Public)).toBeNull();
    expect(identifiedSender(payload(alice.publicKey), 7, null)).toBeNull();
    expect(identifiedSender(Uint8Array.of(1, 9, 0), 7, alice.x25519Public)).toBeNull();
  });
});
