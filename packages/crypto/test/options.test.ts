import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkAppOptions,
  decodePayload,
  encodePayload,
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
