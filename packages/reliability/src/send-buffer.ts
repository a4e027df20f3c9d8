import { RangeSet } from './range-set.js';

/**
 * The send side of a stream (or of one message): bytes written and not yet acknowledged, which
 * ranges were acknowledged, which were declared lost and wait for retransmission, and how far new
 * data has been sent. Ranges, not frames, are retransmitted, so a lost range is re-chunked to the
 * current packet size (matters after a PMTU change).
 */
export class SendBuffer {
  private chunks: Uint8Array[] = [];
  private chunkStarts: number[] = [];
  private head = 0;
  /** offset of the first byte still held (everything below is acknowledged) */
  base = 0;
  /** offset one past the last byte written */
  end = 0;
  /** bytes below this were sent at least once */
  sentEnd = 0;
  acked = new RangeSet();
  lost = new RangeSet();
  fin = false;
  finSent = false;
  finAcked = false;
  /** the FIN must be sent again (lost) */
  finLost = false;

  buffered(): number {
    return this.end - this.base;
  }

  write(data: Uint8Array): void {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.chunkStarts.push(this.end);
    this.end += data.length;
  }

  /** Bytes [offset, offset + len) (must be held); a view when they lie in one chunk. */
  read(offset: number, len: number): Uint8Array {
    const starts = this.chunkStarts;
    let lo = this.head;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    const c = this.chunks[lo]!;
    const at = offset - starts[lo]!;
    if (at + len <= c.length) return c.subarray(at, at + len);
    const out = new Uint8Array(len);
    let filled = 0;
    let i = lo;
    let pos = at;
    while (filled < len) {
      const chunk = this.chunks[i]!;
      const n = Math.min(chunk.length - pos, len - filled);
      out.set(chunk.subarray(pos, pos + n), filled);
      filled += n;
      i++;
      pos = 0;
    }
    return out;
  }

  /** Records an acknowledgement and frees the acknowledged prefix. */
  onAck(offset: number, len: number, fin: boolean): void {
    if (fin) this.finAcked = true;
    // A range below `base` was already delivered (e.g. the ACK of an old copy of data that a
    // retransmission got acknowledged first): recording it would leave a stale range at index 0
    // and `base` would never advance again, stalling the stream.
    const start = Math.max(offset, this.base);
    const end = offset + len;
    if (end <= start) return; // nothing new (`acked` never holds a range at or below `base`)
    if (!this.lost.isEmpty()) this.lost.remove(start, end);
    if (start === this.base && this.acked.size === 0) {
      // in order, nothing acknowledged above: the common case needs no range book-keeping
      this.advanceBase(end);
      return;
    }
    this.acked.add(start, end);
    if (this.acked.min() <= this.base) {
      const newBase = this.acked.endAt(0);
      if (newBase > this.base) {
        this.acked.removeBelow(newBase);
        this.advanceBase(newBase);
      }
    }
  }

  /** Everything below `newBase` is acknowledged: release the chunks it covers. */
  private advanceBase(newBase: number): void {
    this.base = newBase;
    while (this.head < this.chunks.length) {
      const s = this.chunkStarts[this.head]!;
      const c = this.chunks[this.head]!;
      if (s + c.length > newBase) break;
      this.head++;
    }
    if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.chunkStarts.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Marks a sent range lost; the parts not yet acknowledged are queued for retransmission. */
  onLost(offset: number, len: number, fin: boolean): void {
    if (fin && !this.finAcked) this.finLost = true;
    const end = offset + len;
    let s = Math.max(offset, this.base);
    if (s >= end) return;
    // queue only the unacknowledged parts
    const acked = this.acked;
    for (let i = 0; i < acked.size && s < end; i++) {
      const as = acked.startAt(i);
      const ae = acked.endAt(i);
      if (ae <= s) continue;
      if (as >= end) break;
      if (as > s) this.lost.add(s, as);
      s = Math.max(s, ae);
    }
    if (s < end) this.lost.add(s, end);
  }

  /** All data and the FIN (if any) were acknowledged. */
  allAcked(): boolean {
    return this.base === this.end && (!this.fin || this.finAcked);
  }

  /** Drops everything (reset). */
  clear(): void {
    this.chunks = [];
    this.chunkStarts = [];
    this.head = 0;
    this.base = this.end;
    this.sentEnd = this.end;
    this.acked.clear();
    this.lost.clear();
    this.finLost = false;
  }
}
