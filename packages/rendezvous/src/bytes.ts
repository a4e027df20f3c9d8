/** Base64url for cards (no Buffer: this package also runs in browsers); the other byte helpers are @srmudp/wire's. */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** RFC 4648 §5 base64url without padding. */
export function toBase64Url(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out +=
      B64[n >> 18] +
      (B64[(n >> 12) & 63] as string) +
      (B64[(n >> 6) & 63] as string) +
      (B64[n & 63] as string);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] as number) << 16;
    out += (B64[n >> 18] as string) + (B64[(n >> 12) & 63] as string);
  } else if (rest === 2) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += (B64[n >> 18] as string) + (B64[(n >> 12) & 63] as string) + (B64[(n >> 6) & 63] as string);
  }
  return out;
}

/** Decodes base64url (no padding; '=' padding tolerated); returns null on a bad character or length. */
export function fromBase64Url(text: string): Uint8Array | null {
  const t = text.replace(/=+$/, '');
  if (t.length % 4 === 1) return null;
  const out = new Uint8Array(Math.floor((t.length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (const ch of t) {
    const v = B64.indexOf(ch);
    if (v < 0) return null;
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (buffer >> bits) & 0xff;
    }
    buffer &= (1 << bits) - 1;
  }
  // Non-zero leftover bits mean a non-canonical encoding: reject so every value has one text form.
  if (buffer !== 0) return null;
  return out;
}
