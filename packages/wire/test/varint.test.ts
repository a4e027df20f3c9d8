import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_VARINT, Reader, readVarint, varintSize, WireDecodeError, writeVarint } from '../src/index.js';

function enc(n: number): Uint8Array {
  const buf = new Uint8Array(varintSize(n));
  expect(writeVarint(buf, 0, n)).toBe(buf.length);
  return buf;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function decodeError(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof WireDecodeError) return e.code;
    throw e;
  }
  throw new Error('expected a WireDecodeError');
}

describe('varint (RFC 9000 §16)', () => {
  it('encodes the RFC 9000 Appendix A.1 examples', () => {
    expect(hex(enc(494878333))).toBe('9d7f3e7d');
    expect(hex(enc(15293))).toBe('7bbd');
    expect(hex(enc(37))).toBe('25');
    // Non-minimal encodings decode (RFC 9000 A.1: 0x4025 is also 37).
    expect(readVarint(Uint8Array.of(0x40, 0x25), 0)).toBe(37);
    expect(readVarint(Uint8Array.of(0x80, 0, 0, 0x25), 0)).toBe(37);
    expect(readVarint(Uint8Array.of(0xc0, 0, 0, 0, 0, 0, 0, 0x25), 0)).toBe(37);
    // The RFC's 8-byte example (151288809941952652) is above 2^53-1: out of our range.
    expect(
      decodeError(() => readVarint(Uint8Array.of(0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c), 0)),
    ).toBe('VARINT_RANGE');
  });

  it('uses the minimal length at every boundary', () => {
    const cases: [number, number][] = [
      [0, 1],
      [63, 1],
      [64, 2],
      [16383, 2],
      [16384, 4],
      [2 ** 30 - 1, 4],
      [2 ** 30, 8],
      [2 ** 32, 8],
      [MAX_VARINT, 8],
    ];
    for (const [n, size] of cases) {
      expect(varintSize(n)).toBe(size);
      const b = enc(n);
      expect(b.length).toBe(size);
      expect(readVarint(b, 0)).toBe(n);
      const r = new Reader(b);
      expect(r.varint()).toBe(n);
      expect(r.pos).toBe(size);
    }
    expect(hex(enc(MAX_VARINT))).toBe('c01fffffffffffff');
  });

  it('rejects values above 2^53-1 on read (VARINT_RANGE) and on write (RangeError)', () => {
    expect(decodeError(() => readVarint(Uint8Array.of(0xc0, 0x20, 0, 0, 0, 0, 0, 0), 0))).toBe(
      'VARINT_RANGE',
    );
    expect(
      decodeError(() => readVarint(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), 0)),
    ).toBe('VARINT_RANGE');
    for (const bad of [-1, 0.5, 2 ** 53, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => varintSize(bad)).toThrow(RangeError);
      expect(() => writeVarint(new Uint8Array(8), 0, bad)).toThrow(RangeError);
    }
    expect(() => writeVarint(new Uint8Array(1), 0, 64)).toThrow(RangeError);
    expect(() => writeVarint(new Uint8Array(8), 7, 64)).toThrow(RangeError);
    expect(() => readVarint(new Uint8Array(8), 1.5)).toThrow(RangeError);
    expect(() => readVarint(new Uint8Array(8), -1)).toThrow(RangeError);
  });

  it('reports truncation', () => {
    expect(decodeError(() => readVarint(new Uint8Array(0), 0))).toBe('TRUNCATED');
    expect(decodeError(() => readVarint(Uint8Array.of(0x40), 0))).toBe('TRUNCATED');
    expect(decodeError(() => readVarint(Uint8Array.of(0x80, 1, 2), 0))).toBe('TRUNCATED');
    expect(decodeError(() => readVarint(Uint8Array.of(0xc0, 1, 2, 3, 4, 5, 6), 0))).toBe('TRUNCATED');
    expect(decodeError(() => new Reader(Uint8Array.of(0x40, 1), 0, 1).varint())).toBe('TRUNCATED');
  });

  it('matches a slow BigInt reference encoder (RFC 9000 §16 pseudocode)', () => {
    const reference = (n: number): Uint8Array => {
      const v = BigInt(n);
      const len = v < 64n ? 1 : v < 16384n ? 2 : v < 1n << 30n ? 4 : 8;
      const prefix = BigInt([0, 1, 0, 2, 0, 0, 0, 3][len - 1]!) << BigInt(8 * len - 2);
      const x = v | prefix;
      return Uint8Array.from({ length: len }, (_, i) => Number((x >> BigInt(8 * (len - 1 - i))) & 0xffn));
    };
    const decodeReference = (b: Uint8Array): bigint => {
      let x = BigInt(b[0]! & 0x3f);
      for (let i = 1; i < b.length; i++) x = (x << 8n) | BigInt(b[i]!);
      return x;
    };
    fc.assert(
      fc.property(fc.oneof(fc.nat(70000), fc.maxSafeNat()), (n) => {
        const b = enc(n);
        expect(b).toEqual(reference(n));
        expect(BigInt(readVarint(b, 0))).toBe(decodeReference(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips every safe integer at any offset', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.nat(8), (n, pad) => {
        const buf = new Uint8Array(pad + 8);
        const end = writeVarint(buf, pad, n);
        expect(end - pad).toBe(varintSize(n));
        expect(readVarint(buf, pad)).toBe(n);
      }),
      { numRuns: 2000 },
    );
  });
});
