/**
 * QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the
 * length (00 = 1, 01 = 2, 10 = 4, 11 = 8 bytes), the rest is the value, big-endian.
 *
 * JS numbers are exact only up to 2^53-1, so that is our ceiling (RFC 9000 allows 2^62-1): an
 * 8-byte varint above it is a {@link WireDecodeError} `VARINT_RANGE` on read and a RangeError on
 * write. Writers always use the shortest encoding (RFC 9000 §16 recommends it); readers accept
 * longer ones, as the RFC requires for most fields.
 */
import { WireDecodeError } from './errors.js';

/** Largest value a varint can carry in srmudp (Number.MAX_SAFE_INTEGER). */
export const MAX_VARINT = 2 ** 53 - 1;

const TWO_32 = 2 ** 32;

/** Throws a RangeError unless `n` is an integer in [0, 2^53-1]. */
export function checkVarint(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`"${name}" expected integer in [0, 2^53-1], got ${n}`);
  }
}

/** Bytes of the minimal encoding of `n` (1, 2, 4 or 8). Throws RangeError when `n` is not a varint. */
export function varintSize(n: number): 1 | 2 | 4 | 8 {
  if (n < 0x40 && n >= 0 && Number.isInteger(n)) return 1;
  if (n < 0x4000 && n >= 0 && Number.isInteger(n)) return 2;
  if (n < 0x40000000 && n >= 0 && Number.isInteger(n)) return 4;
  checkVarint('n', n);
  return 8;
}

/** Length of the varint whose first byte is `firstByte` (RFC 9000 §16: 1 << top two bits). */
export function varintLengthFromFirstByte(firstByte: number): 1 | 2 | 4 | 8 {
  return (1 << (firstByte >> 6)) as 1 | 2 | 4 | 8;
}

/**
 * Writes `n` at `offset` in its minimal encoding and returns the offset after it.
 * RangeError if `n` is not an integer in [0, 2^53-1] or the buffer is too short.
 */
export function writeVarint(buf: Uint8Array, offset: number, n: number): number {
  const size = varintSize(n);
  if (offset < 0 || offset + size > buf.length) {
    throw new RangeError(`varint of ${size} bytes does not fit at offset ${offset} of ${buf.length}`);
  }
  switch (size) {
    case 1:
      buf[offset] = n;
      return offset + 1;
    case 2:
      buf[offset] = 0x40 | (n >>> 8);
      buf[offset + 1] = n & 0xff;
      return offset + 2;
    case 4:
      buf[offset] = 0x80 | (n >>> 24);
      buf[offset + 1] = (n >>> 16) & 0xff;
      buf[offset + 2] = (n >>> 8) & 0xff;
      buf[offset + 3] = n & 0xff;
      return offset + 4;
    default: {
      const hi = Math.floor(n / TWO_32);
      const lo = n >>> 0;
      buf[offset] = 0xc0 | (hi >>> 24);
      buf[offset + 1] = (hi >>> 16) & 0xff;
      buf[offset + 2] = (hi >>> 8) & 0xff;
      buf[offset + 3] = hi & 0xff;
      buf[offset + 4] = lo >>> 24;
      buf[offset + 5] = (lo >>> 16) & 0xff;
      buf[offset + 6] = (lo >>> 8) & 0xff;
      buf[offset + 7] = lo & 0xff;
      return offset + 8;
    }
  }
}

/**
 * Reads the varint at `offset`. The offset after it is
 * `offset + varintLengthFromFirstByte(buf[offset])` (or use {@link Reader#varint}).
 * Throws WireDecodeError `TRUNCATED` when the input ends inside it, `VARINT_RANGE` above 2^53-1.
 */
export function readVarint(buf: Uint8Array, offset: number): number {
  if (!Number.isInteger(offset) || offset < 0) {
    throw new RangeError(`"offset" expected a non-negative integer, got ${offset}`);
  }
  if (offset >= buf.length) {
    throw new WireDecodeError(
      'TRUNCATED',
      `varint expected at offset ${offset}, input has ${buf.length} bytes`,
    );
  }
  const first = buf[offset]!;
  const size = varintLengthFromFirstByte(first);
  if (offset + size > buf.length) {
    throw new WireDecodeError('TRUNCATED', `varint of ${size} bytes at offset ${offset} exceeds input`);
  }
  switch (size) {
    case 1:
      return first;
    case 2:
      return ((first & 0x3f) << 8) | buf[offset + 1]!;
    case 4:
      return (
        (first & 0x3f) * 0x1000000 + ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!)
      );
    default: {
      const hi =
        (first & 0x3f) * 0x1000000 + ((buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!);
      if (hi > 0x1fffff) {
        throw new WireDecodeError('VARINT_RANGE', `varint at offset ${offset} exceeds 2^53-1`);
      }
      const lo =
        buf[offset + 4]! * 0x1000000 +
        ((buf[offset + 5]! << 16) | (buf[offset + 6]! << 8) | buf[offset + 7]!);
      return hi * TWO_32 + lo;
    }
  }
}
