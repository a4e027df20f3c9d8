import { type Address, addressKey, GenerationalMap } from '@srmudp/wire';

/** RFC 9000 §8: before an address is validated, send at most this many times what it sent us. */
export const AMPLIFICATION_FACTOR = 3;

interface Budget {
  received: number;
  sent: number;
}

/**
 * Anti-amplification accounting per remote address (RFC 9000 §8.1, §9.3.1). Every datagram from
 * an address that is not a validated path credits it; every datagram we send to such an address
 * (handshake responses, cookie replies, STUN responses, path challenges, data on a path under
 * validation) is debited and refused once it would exceed 3x the credit. The table is bounded
 * (`maxEntries`): it remembers at least the `maxEntries / 2` addresses first heard from most
 * recently, and forgets older ones in bulk, which only ever makes us send less. Every datagram
 * from a new address inserts, spoofed ones included, so an insert must not cost more at the cap
 * ({@link GenerationalMap}: a Map trimmed at its oldest entry cost ~3 µs per insert at 16,384).
 */
export class AmplificationGuard {
  private readonly table: GenerationalMap<string, Budget>;

  constructor(maxEntries = 16_384) {
    this.table = new GenerationalMap(Math.max(1, Math.floor(maxEntries / 2)));
  }

  credit(to: Address, bytes: number): void {
    const k = addressKey(to);
    let b = this.table.get(k);
    if (b === undefined) {
      b = { received: 0, sent: 0 };
      this.table.set(k, b);
    }
    b.received += bytes;
  }

  /** Bytes we may still send to `to`. */
  remaining(to: Address): number {
    const b = this.table.get(addressKey(to));
    return b === undefined ? 0 : Math.max(0, AMPLIFICATION_FACTOR * b.received - b.sent);
  }

  /** Debits `bytes` and returns true when within budget; false (nothing debited) otherwise. */
  trySend(to: Address, bytes: number): boolean {
    const b = this.table.get(addressKey(to));
    if (b === undefined || b.sent + bytes > AMPLIFICATION_FACTOR * b.received) return false;
    b.sent += bytes;
    return true;
  }

  /** The address is validated: no more accounting needed. */
  forget(to: Address): void {
    this.table.delete(addressKey(to));
  }

  get size(): number {
    return this.table.size;
  }
}
