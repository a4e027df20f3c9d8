import { equalBytes, toHex } from '@srmudp/wire';
import { RendezvousError } from './errors.js';
import type { DecodedRecord, VerifyOptions } from './record.js';
import { verifyRecord } from './record.js';

/**
 * The resolver's memory: the newest verified record per peer. `accept` runs every check of
 * {@link verifyRecord} and then refuses to go back in sequence (a backend can replay an old record,
 * never forge a new one). The same record seen again is accepted (re-resolving is normal); a
 * different record with the same sequence number is an equivocation and is refused.
 */
export class RecordCache {
  readonly #byPeer = new Map<string, DecodedRecord>();
  readonly #max: number;

  constructor(options: { maxPeers?: number } = {}) {
    this.#max = options.maxPeers ?? 10_000;
  }

  /** Verifies `bytes` and remembers it; throws RECORD_* or STALE_RECORD. */
  accept(bytes: Uint8Array, options: VerifyOptions = {}): DecodedRecord {
    const decoded = verifyRecord(bytes, options);
    const key = toHex(decoded.record.peerId);
    const known = this.#byPeer.get(key);
    if (known !== undefined) {
      if (decoded.record.seq < known.record.seq) {
        throw new RendezvousError(
          'STALE_RECORD',
          `record seq ${decoded.record.seq} is older than seq ${known.record.seq} already seen`,
        );
      }
      if (decoded.record.seq === known.record.seq) {
        if (equalBytes(decoded.bytes, known.bytes)) return known;
        throw new RendezvousError(
          'STALE_RECORD',
          `a different record with seq ${decoded.record.seq} was already seen`,
        );
      }
    }
    this.#byPeer.delete(key);
    this.#byPeer.set(key, decoded);
    if (this.#byPeer.size > this.#max) {
      const oldest = this.#byPeer.keys().next().value;
      if (oldest !== undefined) this.#byPeer.delete(oldest);
    }
    return decoded;
  }

  /** The newest record accepted for a peer, if any (not re-checked for expiry). */
  get(peerId: Uint8Array): DecodedRecord | undefined {
    return this.#byPeer.get(toHex(peerId));
  }

  /** Highest sequence number accepted for a peer. */
  lastSeq(peerId: Uint8Array): number | undefined {
    return this.get(peerId)?.record.seq;
  }

  delete(peerId: Uint8Array): void {
    this.#byPeer.delete(toHex(peerId));
  }
}
