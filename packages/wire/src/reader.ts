/**
 * A cursor over a byte string for decoders: every read checks bounds and throws
 * {@link WireDecodeError} `TRUNCATED` instead of reading past `end`. Byte fields are returned as
 * subarrays (views into the input, no copy): copy them if the input buffer will be reused.
 */
import { readU32 } from './bytes.js';
import { WireDecodeError } from './errors.js';
import { readVarint, varintLengthFromFirstByte } from './varint.js';

const TWO_32 = 2 ** 32;

export class Reader {
  bytes: Uint8Array;
  /** Next byte to read. */
  pos: number;
  /** One past the last readable byte. */
  end: number;

  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  /** Points the reader at new input (a reused reader instead of a new one). */
  reset(bytes: Uint8Array, pos = 0, end = bytes.length): void {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.end) {
      throw new WireDecodeError(
        'TRUNCATED',
        `${what}: need ${n} bytes at offset ${this.pos}, have ${this.end - this.pos}`,
      );
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const b = this.bytes;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p]! << 8) | b[p + 1]!;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = readU32(this.bytes, this.pos);
    this.pos += 4;
    return v;
  }

  /** Unsigned 64-bit big-endian; above 2^53-1 is `BAD_VALUE`. */
  u64(what = 'u64'): number {
    this.need(8, what);
    const v = readU64(this.bytes, this.pos, what);
    this.pos += 8;
    return v;
  }

  varint(what = 'varint'): number {
    if (this.pos >= this.end) this.need(1, what);
    const size = varintLengthFromFirstByte(this.bytes[this.pos]!);
    this.need(size, what);
    const v = readVarint(this.bytes, this.pos);
    this.pos += size;
    return v;
  }

  /** The next `n` bytes as a subarray of the input. */
  take(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const p = this.pos;
    this.pos = p + n;
    return this.bytes.subarray(p, p + n);
  }

  /** Everything up to `end`. */
  rest(): Uint8Array {
    const p = this.pos;
    this.pos = this.end;
    return this.bytes.subarray(p, this.end);
  }
}

export function readU64(b: Uint8Array, p: number, what = 'u64'): number {
  const hi = readU32(b, p);
  if (hi > 0x1fffff) throw new WireDecodeError('BAD_VALUE', `${what} at offset ${p} exceeds 2^53-1`);
  return hi * TWO_32 + readU32(b, p + 4);
}

export function checkU32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`"${name}" expected integer in [0, 2^32-1], got ${v}`);
  }
}
