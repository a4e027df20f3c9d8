/**
 * Byte helpers every srmudp layer shares (noble's `utils.ts` idea): equality, order, hex,
 * concatenation and big-endian integers. Pure, no Buffer.
 */

/**
 * Equality of two byte strings. Runs in time independent of the contents (only the length
 * shows), as noble's `equalBytes`, so it also serves MAC and key comparisons: @srmudp/crypto's
 * constant-time checks are this function.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Lexicographic order: negative when a < b, 0 when equal, positive when a > b. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** The two ASCII digits of each byte value, at 2v and 2v + 1. */
const HEX_DIGITS = new Uint8Array(512);
for (let v = 0; v < 256; v++) {
  HEX_DIGITS[2 * v] = '0123456789abcdef'.charCodeAt(v >> 4);
  HEX_DIGITS[2 * v + 1] = '0123456789abcdef'.charCodeAt(v & 15);
}
const latin1 = new TextDecoder('latin1');
/** The digits of the key being written (grown for longer input; never held by a result). */
let hexScratch = new Uint8Array(64);

/**
 * Lower-case hex (map keys of peer ids and message ids; never on the per-packet path). The
 * digits are written into a scratch array and decoded once: a flat one-byte string, as fast as
 * Node's `Buffer#toString('hex')` (~0.12 µs for a 32-byte key) and portable. Not built with
 * `+=`: V8 keeps a `+=` result as a rope of one node per byte (about 1 KiB for a 32-byte key)
 * for as long as the string lives, e.g. as a map key of every connection.
 */
export function toHex(b: Uint8Array): string {
  const n = 2 * b.length;
  if (hexScratch.length < n) hexScratch = new Uint8Array(n);
  const out = hexScratch;
  for (let i = 0; i < b.length; i++) {
    const v = 2 * (b[i] as number);
    out[2 * i] = HEX_DIGITS[v] as number;
    out[2 * i + 1] = HEX_DIGITS[v + 1] as number;
  }
  return latin1.decode(out.subarray(0, n));
}

/**
 * A string with one character per byte (a one-byte string: 16 bytes of heap plus the length,
 * where a small Uint8Array with its buffer costs ~200), to key a Map by the contents of a short
 * array or to keep it compactly. One flat string, built without iterating the array (a spread
 * allocates an iterator result per byte) and without `+=` (a rope of one node per byte, ~1 KiB for
 * a 32-byte key, alive as long as the string). For arrays of up to a few thousand bytes (it passes
 * each byte as an argument).
 */
export function bytesKey(a: Uint8Array): string {
  return String.fromCharCode.apply(null, a as unknown as number[]);
}

/** The bytes of a {@link bytesKey} string (a new array). */
export function keyBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const keyHexMemo = new WeakMap<Uint8Array, string>();

/**
 * {@link toHex} of a peer's key, one string per key object: crypto's, core's and the façade's
 * tables index the same connection by the same key object, and share one string instead of
 * holding a copy each (heap per idle connection, issue 19). The key's bytes must not change
 * after the first call (peer keys never do); a key object no table holds any more lets its
 * string go with it.
 */
export function keyToHex(key: Uint8Array): string {
  let hex = keyHexMemo.get(key);
  if (hex === undefined) {
    hex = toHex(key);
    keyHexMemo.set(key, hex);
  }
  return hex;
}

/** Bytes of a hex string (either case), or null when it is not one (odd length, other characters). */
export function fromHex(text: string): Uint8Array | null {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** One new array holding `parts` in order. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Unsigned 32-bit big-endian integer at `p` (the caller checks the bounds). */
export function readU32(b: Uint8Array, p: number): number {
  return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

/** Writes `v` (0..2^32-1) big-endian at `p`. */
export function writeU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = (v >>> 16) & 0xff;
  b[p + 2] = (v >>> 8) & 0xff;
  b[p + 3] = v & 0xff;
}

/** Writes `v` (0..2^53-1) as a 64-bit big-endian integer at `p`. */
export function writeU64(b: Uint8Array, p: number, v: number): void {
  writeU32(b, p, Math.floor(v / 0x1_0000_0000));
  writeU32(b, p + 4, v >>> 0);
}
