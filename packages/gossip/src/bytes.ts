/** Argument checks of the gossip package; hex keys and equality are @srmudp/wire's. */

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
