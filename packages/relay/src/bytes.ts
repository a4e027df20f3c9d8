/** Small byte helpers of the relay (map keys for peer ids, equality, argument checks). */

const HEX = '0123456789abcdef';

/** Lower-case hex of a key: the map key for peer ids (control path only, never per packet). */
export function keyId(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i++) {
    const b = key[i] as number;
    s += HEX[b >> 4]! + HEX[b & 15]!;
  }
  return s;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** TypeError unless `value` is a Uint8Array (of `length` bytes when given). */
export function checkBytes(name: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array))
    throw new TypeError(`"${name}" expected Uint8Array, got ${typeof value}`);
  if (length !== undefined && value.length !== length) {
    throw new TypeError(`"${name}" expected Uint8Array of length ${length}, got length=${value.length}`);
  }
}

/** TypeError unless `now` is a finite number (monotonic milliseconds). */
export function checkNow(now: number): void {
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new TypeError(`"now" expected finite number, got ${String(now)}`);
  }
}

/** Source of randomness: `n` fresh random bytes (a CSPRNG in production, seeded in tests). */
export type RandomBytes = (n: number) => Uint8Array;
