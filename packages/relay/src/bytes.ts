/** Argument checks of the relay; map keys (hex) and equality are @srmudp/wire's `toHex`/`equalBytes`. */

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
