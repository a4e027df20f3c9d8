/**
 * Byte helpers of the handshake and transport code that only crypto needs (no allocation on hot
 * paths). Equality of secrets and MACs is @srmudp/wire's `equalBytes`, constant-time in the
 * contents by its contract (as noble's `equalBytes`); order and concatenation are wire's too.
 */

export function isZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i] as number;
  return acc === 0;
}

export function wipe(...arrays: (Uint8Array | undefined | null)[]): void {
  for (const a of arrays) if (a) a.fill(0);
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
