/**
 * Carves short-lived byte arrays (packets being built, sealed datagrams on their way to the
 * socket) out of larger ArrayBuffers. A fresh `new Uint8Array(1472)` costs about 1.3 µs in V8
 * (an off-heap backing store, tracked and finalised by the GC); a view into a slab about 0.3 µs.
 * That is two allocations per datagram on the send path (measured: 4.5 µs of 34 µs per packet).
 *
 * Each view is distinct memory: nothing is ever reused, so a view stays valid for as long as the
 * caller keeps it (it keeps its whole slab alive, as Node's Buffer pool does). Never pass
 * `view.buffer` on without `byteOffset` / `byteLength`.
 */
export class ByteSlab {
  private buf: ArrayBuffer;
  private off = 0;
  private lastStart = -1;

  /** @param slabSize bytes per slab; requests above a quarter of it get their own array */
  constructor(private readonly slabSize = 64 * 1024) {
    if (!Number.isInteger(slabSize) || slabSize < 1024) {
      throw new RangeError(`"slabSize" expected an integer >= 1024, got ${slabSize}`);
    }
    this.buf = new ArrayBuffer(slabSize);
  }

  /** A zero-filled array of `n` bytes. */
  take(n: number): Uint8Array {
    if (n > this.slabSize >>> 2) {
      this.lastStart = -1;
      return new Uint8Array(n);
    }
    if (this.off + n > this.slabSize) {
      this.buf = new ArrayBuffer(this.slabSize);
      this.off = 0;
    }
    const view = new Uint8Array(this.buf, this.off, n);
    this.lastStart = this.off;
    this.off = (this.off + n + 7) & ~7; // 8-byte aligned starts
    return view;
  }

  /**
   * Gives back the unused tail of the array the last {@link take} returned and returns its first
   * `used` bytes (the caller must not touch the tail afterwards). Any other array: a subarray.
   */
  trim(view: Uint8Array, used: number): Uint8Array {
    if (used < 0 || used > view.length)
      throw new RangeError(`"used" expected 0..${view.length}, got ${used}`);
    if (this.lastStart >= 0 && view.buffer === this.buf && view.byteOffset === this.lastStart) {
      this.off = (this.lastStart + used + 7) & ~7;
      this.lastStart = -1;
    }
    // all of it used (a full packet): the view itself, not one more view object per packet
    return used === view.length ? view : view.subarray(0, used);
  }
}

/**
 * One slab for the whole process: the send path is synchronous, so every endpoint and
 * connection can carve from it (a slab per connection would cost 64 KiB each at 1,000 peers).
 */
export const sharedSlab = new ByteSlab();
