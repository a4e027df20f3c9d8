import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;
/** Requests larger than this bypass the pool. */
const MAX_POOLED = 256;
const pool = new Uint8Array(POOL_BYTES);
let used = POOL_BYTES;

/**
 * Cryptographically secure random bytes (node:crypto's CSPRNG) for the sans-IO layers, drawn
 * from a 4 KiB pool: one native call per ~40 handshakes instead of one per ephemeral key, index
 * and nonce (`randomBytes` costs ~1.7 µs a call plus a copy into a Uint8Array). Each result is a
 * fresh array the caller owns, and the bytes it took are zeroed in the pool at once, so no key
 * material stays behind there.
 */
export function secureRandom(n: number): Uint8Array {
  if (n > MAX_POOLED) return randomFillSync(new Uint8Array(n));
  if (used + n > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const out = pool.slice(used, used + n);
  pool.fill(0, used, used + n);
  used += n;
  return out;
}
