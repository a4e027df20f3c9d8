/** UTF-8 helpers without allocation for sizing; TextEncoder/TextDecoder for the bytes. */
import { WireDecodeError } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Bytes of `s` in UTF-8, as TextEncoder writes it (a lone surrogate becomes U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Writes `s` at `offset` (the caller sized the space with utf8Length); returns the new offset. */
export function writeUtf8(buf: Uint8Array, offset: number, s: string): number {
  return offset + encoder.encodeInto(s, buf.subarray(offset)).written;
}

export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Strict decoding: malformed UTF-8 is `BAD_VALUE`. */
export function readUtf8(bytes: Uint8Array, what: string): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new WireDecodeError('BAD_VALUE', `${what} is not valid UTF-8`);
  }
}
