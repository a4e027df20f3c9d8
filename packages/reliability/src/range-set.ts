/**
 * A set of non-negative integers stored as sorted, disjoint, non-adjacent half-open ranges
 * [start, end). Used for received packet numbers (ACK ranges, RFC 9000 §19.3), acknowledged and
 * lost byte ranges of send streams, and completed message ids. Operations are O(log n + k) and
 * the number of ranges can be capped so a hostile peer cannot grow it without limit.
 */
export class RangeSet {
  /** starts[i] < ends[i] < starts[i+1] */
  private starts: number[] = [];
  private ends: number[] = [];

  get size(): number {
    return this.starts.length;
  }

  isEmpty(): boolean {
    return this.starts.length === 0;
  }

  startAt(i: number): number {
    return this.starts[i]!;
  }

  endAt(i: number): number {
    return this.ends[i]!;
  }

  /** Smallest element, or -1 when empty. */
  min(): number {
    return this.starts.length === 0 ? -1 : this.starts[0]!;
  }

  /** One past the largest element, or -1 when empty. */
  max(): number {
    const n = this.ends.length;
    return n === 0 ? -1 : this.ends[n - 1]!;
  }

  /** Index of the first range whose end >= x (the range containing or following x). */
  private lowerBound(x: number): number {
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  has(x: number): boolean {
    const i = this.lowerBound(x + 1);
    return i < this.starts.length && this.starts[i]! <= x;
  }

  /** True when all of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (end <= start) return true;
    const i = this.lowerBound(start + 1);
    return i < this.starts.length && this.starts[i]! <= start && this.ends[i]! >= end;
  }

  /** Adds [start, end); returns the number of elements that were not already present. */
  add(start: number, end: number): number {
    if (end <= start) return 0;
    const starts = this.starts;
    const ends = this.ends;
    const n = starts.length;
    // fast path: append at the end (in-order arrival)
    if (n === 0) {
      // one slot each (a push from empty reserves 17): an idle connection's set is one range
      this.starts = [start];
      this.ends = [end];
      return end - start;
    }
    if (start > ends[n - 1]!) {
      starts.push(start);
      ends.push(end);
      return end - start;
    }
    if (start >= starts[n - 1]!) {
      const oldEnd = ends[n - 1]!;
      if (end <= oldEnd) return 0;
      ends[n - 1] = end;
      return end - oldEnd;
    }
    // general case: find ranges touching [start, end]
    const i = this.lowerBound(start); // first range with end >= start
    let j = i;
    let covered = 0;
    let newStart = start;
    let newEnd = end;
    while (j < n && starts[j]! <= end) {
      const s = starts[j]!;
      const e = ends[j]!;
      covered += Math.max(0, Math.min(e, end) - Math.max(s, start));
      if (s < newStart) newStart = s;
      if (e > newEnd) newEnd = e;
      j++;
    }
    starts.splice(i, j - i, newStart);
    ends.splice(i, j - i, newEnd);
    return end - start - covered;
  }

  /** Removes [start, end). */
  remove(start: number, end: number): void {
    if (end <= start) return;
    const starts = this.starts;
    const ends = this.ends;
    const i = this.lowerBound(start + 1); // first range with end > start
    const n = starts.length;
    const outS: number[] = [];
    const outE: number[] = [];
    let j = i;
    while (j < n && starts[j]! < end) {
      const s = starts[j]!;
      const e = ends[j]!;
      if (s < start) {
        outS.push(s);
        outE.push(start);
      }
      if (e > end) {
        outS.push(end);
        outE.push(e);
      }
      j++;
    }
    if (j === i) return;
    starts.splice(i, j - i, ...outS);
    ends.splice(i, j - i, ...outE);
  }

  /** Removes every element below x. */
  removeBelow(x: number): void {
    if (this.starts.length === 0 || this.starts[0]! >= x) return;
    this.remove(0, x);
  }

  /** Drops the lowest ranges so at most `max` remain. */
  truncateLow(max: number): void {
    const extra = this.starts.length - max;
    if (extra > 0) {
      this.starts.splice(0, extra);
      this.ends.splice(0, extra);
    }
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }
}
