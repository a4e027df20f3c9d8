/**
 * Anti-replay sliding window (RFC 6479): a ring of 32-bit blocks; moving the window forward clears
 * whole blocks instead of shifting bits, so each check and update is O(1).
 * 128 blocks → 4064 packets of window (one block is kept as slack, RFC 6479 §2), above the
 * 2048 the design asks for. Packet numbers are integers in [0, 2^53).
 */
const BLOCKS = 128;
const BITS = 32;
export const REPLAY_WINDOW_SIZE = (BLOCKS - 1) * BITS;
/** Packet numbers below this fit in the two inline blocks (see {@link ReplayWindow.bitmap}). */
const SMALL = 2 * BITS;

export type ReplayVerdict = 'ok' | 'duplicate' | 'too_old';

export class ReplayWindow {
  /** The ring, allocated when the first packet number reaches {@link SMALL}: until then (a new or
   * idle session) its first two blocks live in `w0`/`w1` and the rest would be zero anyway, so the
   * verdicts are the same as with the ring from the start, for a fraction of its memory. */
  private bitmap: Uint32Array | null = null;
  private w0 = 0;
  private w1 = 0;
  /** Highest packet number accepted so far; -1 before the first. */
  private top = -1;

  /** Checks without recording: call {@link update} only after the packet authenticated. */
  check(pn: number): ReplayVerdict {
    if (pn > this.top) return 'ok';
    if (this.top - pn >= REPLAY_WINDOW_SIZE) return 'too_old';
    const block = Math.floor(pn / BITS) % BLOCKS;
    const bit = 1 << (pn % BITS);
    return (this.word(block) & bit) !== 0 ? 'duplicate' : 'ok';
  }

  /** Records an authenticated packet number; returns false if it was a duplicate or too old. */
  update(pn: number): boolean {
    if (pn > this.top) {
      if (this.bitmap === null && pn >= SMALL) {
        this.bitmap = new Uint32Array(BLOCKS);
        this.bitmap[0] = this.w0;
        this.bitmap[1] = this.w1;
      }
      const topBlock = this.top < 0 ? -1 : Math.floor(this.top / BITS);
      const newBlock = Math.floor(pn / BITS);
      const diff = Math.min(newBlock - topBlock, BLOCKS);
      for (let i = 1; i <= diff; i++) this.setWord((topBlock + i) % BLOCKS, 0);
      this.top = pn;
    } else if (this.top - pn >= REPLAY_WINDOW_SIZE) {
      return false;
    }
    const block = Math.floor(pn / BITS) % BLOCKS;
    const bit = 1 << (pn % BITS);
    const word = this.word(block);
    if ((word & bit) !== 0) return false;
    this.setWord(block, word | bit);
    return true;
  }

  /** Highest packet number seen (-1 if none). */
  highest(): number {
    return this.top;
  }

  reset(): void {
    this.bitmap = null;
    this.w0 = 0;
    this.w1 = 0;
    this.top = -1;
  }

  /** Block `i` of the ring (while it is not allocated, only blocks 0 and 1 can be asked for). */
  private word(i: number): number {
    if (this.bitmap !== null) return this.bitmap[i] as number;
    return i === 0 ? this.w0 : this.w1;
  }

  private setWord(i: number, v: number): void {
    if (this.bitmap !== null) this.bitmap[i] = v;
    else if (i === 0) this.w0 = v;
    else this.w1 = v;
  }
}
