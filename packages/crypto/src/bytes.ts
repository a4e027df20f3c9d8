/** Small byte helpers shared by the handshake and transport code (no allocation on hot paths). */

/** Constant-time equality for equal-length secrets and MACs (length is not secret). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export function isZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i] as number;
  return acc === 0;
}

/** Lexicographic comparison (used to break simultaneous-initiation ties). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** A string with one character per byte, to key a Map by the contents of a (short) array. */
export function bytesKey(a: Uint8Array): string {
  let s = '';
  for (let i = 0; i < a.length; i++) s += String.fromCharCode(a[i] as number);
  return s;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function wipe(...arrays: (Uint8Array | undefined | null)[]): void {
  for (const a of arrays) if (a) a.fill(0);
}

/** Writes a 64-bit unsigned integer (< 2^53) big-endian. */
export function writeU64BE(out: Uint8Array, offset: number, value: number): void {
  const hi = Math.floor(value / 0x1_0000_0000);
  const lo = value >>> 0;
  writeU32BE(out, offset, hi);
  writeU32BE(out, offset + 4, lo);
}

export function readU64BE(b: Uint8Array, offset: number): number {
  return readU32BE(b, offset) * 0x1_0000_0000 + readU32BE(b, offset + 4);
}

export function writeU32BE(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

export function readU32BE(b: Uint8Array, offset: number): number {
  return (
    (((b[offset] as number) << 24) |
      ((b[offset + 1] as number) << 16) |
      ((b[offset + 2] as number) << 8) |
      (b[offset + 3] as number)) >>>
    0
  );
}

/** Noise ChaChaPoly nonce (spec rev 34 §12.3): 32 zero bits then the 64-bit counter little-endian. */
export function writeNoiseNonce(out: Uint8Array, counter: number): void {
  out[0] = 0;
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
  let lo = counter >>> 0;
  let hi = Math.floor(counter / 0x1_0000_0000) >>> 0;
  for (let i = 4; i < 8; i++) {
    out[i] = lo & 0xff;
    lo >>>= 8;
  }
  for (let i = 8; i < 12; i++) {
    out[i] = hi & 0xff;
    hi >>>= 8;
  }
}

export function assertBytes(value: unknown, name: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(`"${name}" expected Uint8Array, got ${typeof value}`);
  }
  if (length !== undefined && value.length !== length) {
    throw new TypeError(`"${name}" expected Uint8Array of length ${length}, got length=${value.length}`);
  }
}
