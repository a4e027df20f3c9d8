/**
 * The bytes [start, end) of `data` to hold: a view when they are most of the array underneath
 * (a stream frame filling its packet's plaintext: no allocation and copy per packet), a copy when
 * they are a small part of it (a view would pin the whole packet for a few bytes of credit).
 */
const EMPTY = new Uint8Array(0);

function keep(data: Uint8Array, start: number, end: number): Uint8Array {
  return 2 * (end - start) >= data.buffer.byteLength ? data.subarray(start, end) : data.slice(start, end);
}

/**
 * Reassembly buffer of a stream (or message): out-of-order chunks, trimmed so no byte is held
 * twice (a peer cannot amplify memory with overlapping frames), read back in order. Memory is
 * bounded by the flow-control limit the caller enforces before inserting.
 */
export class RecvBuffer {
  // chunks [head, length) are held; a head index instead of shift(), which copies the array
  // once it is long (a reader that lags behind a large window leaves hundreds of chunks)
  private offs: number[] = [];
  private datas: Uint8Array[] = [];
  private head = 0;
  /** bytes below this were read */
  readOffset = 0;
  /** bytes held */
  bufferedBytes = 0;

  /** Inserts `data` at `offset`; returns the number of new bytes stored. */
  insert(offset: number, data: Uint8Array): number {
    let s = offset;
    const e = offset + data.length;
    if (s < this.readOffset) s = this.readOffset;
    if (s >= e) return 0;
    const offs = this.offs;
    const n = offs.length;
    // fast path: in-order append
    if (n === this.head || s >= offs[n - 1]! + this.datas[n - 1]!.length) {
      offs.push(s);
      this.datas.push(keep(data, s - offset, data.length));
      this.bufferedBytes += e - s;
      return e - s;
    }
    // general path: fill the gaps between existing chunks
    let lo = this.head;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offs[mid]! + this.datas[mid]!.length <= s) lo = mid + 1;
      else hi = mid;
    }
    let added = 0;
    let i = lo;
    let pos = s;
    while (pos < e) {
      const cs = i < offs.length ? offs[i]! : Number.POSITIVE_INFINITY;
      if (pos < cs) {
        const gapEnd = Math.min(e, cs);
        offs.splice(i, 0, pos);
        this.datas.splice(i, 0, keep(data, pos - offset, gapEnd - offset));
        added += gapEnd - pos;
        pos = gapEnd;
        i++;
      } else {
        pos = Math.max(pos, cs + this.datas[i]!.length);
        i++;
      }
    }
    this.bufferedBytes += added;
    return added;
  }

  /** Bytes readable in order now. */
  contiguous(): number {
    let n = 0;
    let at = this.readOffset;
    for (let i = this.head; i < this.offs.length && this.offs[i] === at; i++) {
      const len = this.datas[i]!.length;
      n += len;
      at += len;
    }
    return n;
  }

  hasReadable(): boolean {
    return this.offs.length > this.head && this.offs[this.head] === this.readOffset;
  }

  /** Reads up to `max` in-order bytes, or null when none are available. */
  read(max: number): Uint8Array | null {
    if (!this.hasReadable() || max <= 0) return null;
    const h = this.head;
    const first = this.datas[h]!;
    if (
      first.length >= max ||
      this.offs.length === h + 1 ||
      this.offs[h + 1] !== this.readOffset + first.length
    ) {
      const n = Math.min(max, first.length);
      const out = first.subarray(0, n);
      if (n === first.length) this.drop();
      else {
        this.datas[h] = first.subarray(n);
        this.offs[h] = this.readOffset + n;
      }
      this.readOffset += n;
      this.bufferedBytes -= n;
      return out;
    }
    const total = Math.min(max, this.contiguous());
    const out = new Uint8Array(total);
    let filled = 0;
    while (filled < total) {
      const i = this.head;
      const d = this.datas[i]!;
      const n = Math.min(d.length, total - filled);
      out.set(n === d.length ? d : d.subarray(0, n), filled);
      filled += n;
      if (n === d.length) this.drop();
      else {
        this.datas[i] = d.subarray(n);
        this.offs[i] = this.readOffset + filled;
      }
    }
    this.readOffset += total;
    this.bufferedBytes -= total;
    return out;
  }

  /** Forgets the first held chunk; compacts the arrays once half of them are read. */
  private drop(): void {
    this.datas[this.head] = EMPTY;
    this.head++;
    if (this.head === this.offs.length) {
      this.offs.length = 0;
      this.datas.length = 0;
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.offs.length) {
      this.offs.splice(0, this.head);
      this.datas.splice(0, this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.offs = [];
    this.datas = [];
    this.head = 0;
    this.bufferedBytes = 0;
  }
}
