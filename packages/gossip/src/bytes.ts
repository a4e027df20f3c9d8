/** Byte helpers of the gossip package (map keys, comparisons). */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of `b`: the map key of peer ids, topic ids and message ids. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws a TypeError/RangeError naming `name` unless `v` is a Uint8Array (of `length` when given). */
export function assertBytes(v: unknown, name: string, length?: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`"${name}" expected Uint8Array, got ${typeof v}`);
  if (length !== undefined && v.length !== length) {
    throw new RangeError(`"${name}" expected Uint8Array of length ${length}, got length=${v.length}`);
  }
}

export function assertNow(now: unknown): asserts now is number {
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new TypeError(`"now" expected a finite number of milliseconds, got ${String(now)}`);
  }
}
