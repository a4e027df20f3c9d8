/**
 * Kathleen Nichols' windowed min/max filter as used by BBR (draft-cardwell-iccrg-bbr-congestion-
 * control §4.1): the best, second best and third best samples in a sliding window, O(1) per
 * update.
 */
export class MaxFilter {
  /** values of the best, second and third best samples, then their times: one array of doubles
   * (unboxed), not two arrays and their headers (an idle connection's heap, issue 19) */
  private readonly s = [0, 0, 0, 0, 0, 0];

  constructor(private readonly windowLength: number) {}

  get(): number {
    return this.s[0]!;
  }

  reset(value: number, time: number): void {
    const s = this.s;
    s[0] = s[1] = s[2] = value;
    s[3] = s[4] = s[5] = time;
  }

  /** `windowLength` overrides the filter's window for this update (BBR's extra_acked filter
   * remembers one round in Startup and 10 after, draft-cardwell-ccwg-bbr §4.5.9). */
  update(value: number, time: number, windowLength = this.windowLength): void {
    // v0..v2 = s[0..2], t0..t2 = s[3..5]
    const s = this.s;
    if (value >= s[0]! || time - s[5]! > windowLength) {
      this.reset(value, time);
      return;
    }
    if (value >= s[1]!) {
      s[1] = s[2] = value;
      s[4] = s[5] = time;
    } else if (value >= s[2]!) {
      s[2] = value;
      s[5] = time;
    }
    // expire the best samples that left the window
    const dt = time - s[3]!;
    if (dt > windowLength) {
      s[0] = s[1]!;
      s[3] = s[4]!;
      s[1] = s[2]!;
      s[4] = s[5]!;
      s[2] = value;
      s[5] = time;
      if (time - s[3]! > windowLength) {
        s[0] = s[1]!;
        s[3] = s[4]!;
        s[1] = s[2]!;
        s[4] = s[5]!;
      }
    } else if (s[1] === s[0] && dt > windowLength / 4) {
      s[1] = s[2] = value;
      s[4] = s[5] = time;
    } else if (s[2] === s[1] && dt > windowLength / 2) {
      s[2] = value;
      s[5] = time;
    }
  }
}
