import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PEER_ID_TEXT_LENGTH,
  parsePeerId,
  peerIdentityHex,
  peerIdToString,
  samePeer,
} from '../src/peer-id.js';
import { otherForm } from './helpers.js';

const RUNS = Number(process.env.SRMUDP_PROPERTY_RUNS ?? 500);
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code ?? `not SrmudpError: ${String(e)}`;
  }
  return 'no error';
}

describe('peer id text form', () => {
  it('round-trips every key, is 58 chars, lower case, prefixed "pk"', () => {
    fc.assert(
      fc.property(key, (k) => {
        const s = peerIdToString(k);
        expect(s).toHaveLength(PEER_ID_TEXT_LENGTH);
        expect(s).toMatch(/^pk[a-z2-7]{56}$/);
        expect(parsePeerId(s)).toEqual(k);
        expect(parsePeerId(`  ${s.toUpperCase()}\n`)).toEqual(k);
      }),
      { numRuns: RUNS },
    );
  });

  it('has a stable known answer', () => {
    const s = peerIdToString(new Uint8Array(32));
    expect(s.slice(0, 54)).toBe(`pk${'a'.repeat(52)}`);
    expect(parsePeerId(s)).toEqual(new Uint8Array(32));
  });

  it('catches every single-character typo', () => {
    // 56 base32 characters carry exactly 280 bits (key + 24-bit checksum): any substitution
    // changes the decoded bytes, and the checksum misses one with probability 2^-24.
    const s = peerIdToString(Uint8Array.from({ length: 32 }, (_, i) => i * 7));
    const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
    let tried = 0;
    for (let i = 2; i < s.length; i++) {
      for (const ch of alphabet) {
        if (ch === s[i]) continue;
        tried++;
        expect(code(() => parsePeerId(s.slice(0, i) + ch + s.slice(i + 1)))).toBe('INVALID_PEER_ID');
      }
    }
    expect(tried).toBe(56 * 31);
  });

  it('rejects malformed text with INVALID_PEER_ID', () => {
    const good = peerIdToString(new Uint8Array(32).fill(9));
    for (const bad of [
      '',
      'pk',
      good.slice(1),
      `x${good.slice(1)}`,
      `${good}a`,
      good.slice(0, -1),
      `${good.slice(0, -1)}1`,
      `${good.slice(0, 10)}!${good.slice(11)}`,
    ]) {
      expect(code(() => parsePeerId(bad))).toBe('INVALID_PEER_ID');
    }
    expect(code(() => parsePeerId(42 as unknown as string))).toBe('INVALID_PEER_ID');
    expect(() => peerIdToString(new Uint8Array(31))).toThrow(
      new TypeError('"key" expected Uint8Array of length 32, got length=31'),
    );
  });
});

describe('one key holder, two forms of its peer id', () => {
  it('samePeer: a key and its other sign form are one holder; any other bit makes another', () => {
    fc.assert(
      fc.property(key, fc.integer({ min: 0, max: 255 }), (k, bit) => {
        expect(samePeer(k, k)).toBe(true);
        expect(samePeer(k, otherForm(k))).toBe(true);
        const other = k.slice();
        other[bit >> 3] = (other[bit >> 3] as number) ^ (1 << (bit & 7));
        expect(samePeer(k, other)).toBe(bit === 255); // bit 255: the sign bit
      }),
      { numRuns: RUNS },
    );
  });

  it('peerIdentityHex: equal exactly when samePeer, 64 lower-case hex characters', () => {
    fc.assert(
      fc.property(key, key, (a, b) => {
        expect(peerIdentityHex(a)).toBe(peerIdentityHex(otherForm(a)));
        expect(peerIdentityHex(a) === peerIdentityHex(b)).toBe(samePeer(a, b));
        expect(peerIdentityHex(a)).toMatch(/^[0-9a-f]{64}$/);
      }),
      { numRuns: RUNS },
    );
    const k = new Uint8Array(32).fill(0xff);
    expect(peerIdentityHex(k)).toBe(`${'ff'.repeat(31)}7f`);
  });

  it('refuses what is not a 32-byte key: samePeer false, peerIdentityHex a TypeError', () => {
    const k = new Uint8Array(32);
    expect(samePeer(k, new Uint8Array(31))).toBe(false);
    expect(samePeer(new Uint8Array(33), new Uint8Array(33))).toBe(false);
    expect(samePeer(k, [...k] as unknown as Uint8Array)).toBe(false);
    expect(() => peerIdentityHex(new Uint8Array(31))).toThrow(TypeError);
    expect(() => peerIdentityHex('pk' as unknown as Uint8Array)).toThrow(TypeError);
  });
});
