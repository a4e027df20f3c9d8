/**
 * Anti-replay sliding window (RFC 6479): a ring of 32-bit blocks; moving the window forward clears
 * whole blocks instead of shifting bits, so each check and update is O(1).
 * 128 blocks → 4064 packets of window (one block is kept as slack, RFC 6479 §2), above the
 * 2048 the design asks for. Packet numbers are integers in [0, 2^53).
 */
const BLOCKS = 128;
const BITS = 32;
export const REPLAY_WINDOW_SIZE = (BLOCKS - 1) * BITS;

export type ReplayVerdict = 'ok' | 'duplicate' | 'too_old';

export class ReplayWindow {
  private readonly bitmap = new Uint32Array(BLOCKS);
  /** Highest packet number accepted so far; -1 before the first. */
  private top = -1;

  /** Checks without recording: call {@link update} only after the packet authenticated. */
  check(pn: number): ReplayVerdict {
    if (pn > this.top) return 'ok';
    if (this.top - pn >= REPLAY_WINDOW_SIZE) return 'too_old';
    const block = Math.floor(pn / BITS) % BLOCKS;
    const bit = 1 << (pn % BITS);
    return ((this.bitmap[block] as number) & bit) !== 0 ? 'duplicate' : 'ok';
  }

  /** Records an authenticated packet number; returns false if it was a duplicate or too old. */
  update(pn: number): boolean {
    if (pn > this.top) {
      const topBlock = this.top < 0 ? -1 : Math.floor(this.top / BITS);
      const newBlock = Math.floor(pn / BITS);
      const diff = Math.min(newBlock - topBlock, BLOCKS);
      for (let i = 1; i <= diff; i++) this.bitmap[(topBlock + i) % BLOCKS] = 0;
      this.top = pn;
    } else if (this.top - pn >= REPLAY_WINDOW_SIZE) {
      return false;
    }
    const block = Math.floor(pn / BITS) % BLOCKS;
    const bit = 1 << (pn % BITS);
    const word = this.bitmap[block] as number;
    if ((word & bit) !== 0) return false;
    this.bitmap[block] = word | bit;
    return true;
  }

  /** Highest packet number seen (-1 if none). */
  highest(): number {
    return this.top;
  }

  reset(): void {
    this.bitmap.fill(0);
    this.top = -1;
  }
}
