/**
 * Kathleen Nichols' windowed min/max filter as used by BBR (draft-cardwell-iccrg-bbr-congestion-
 * control §4.1): the best, second best and third best samples in a sliding window, O(1) per
 * update.
 */
export class MaxFilter {
  private v = [0, 0, 0];
  private t = [0, 0, 0];

  constructor(private readonly windowLength: number) {}

  get(): number {
    return this.v[0]!;
  }

  reset(value: number, time: number): void {
    this.v[0] = this.v[1] = this.v[2] = value;
    this.t[0] = this.t[1] = this.t[2] = time;
  }

  /** `windowLength` overrides the filter's window for this update (BBR's extra_acked filter
   * remembers one round in Startup and 10 after, draft-cardwell-ccwg-bbr §4.5.9). */
  update(value: number, time: number, windowLength = this.windowLength): void {
    const v = this.v;
    const t = this.t;
    if (value >= v[0]! || time - t[2]! > windowLength) {
      this.reset(value, time);
      return;
    }
    if (value >= v[1]!) {
      v[1] = v[2] = value;
      t[1] = t[2] = time;
    } else if (value >= v[2]!) {
      v[2] = value;
      t[2] = time;
    }
    // expire the best samples that left the window
    const dt = time - t[0]!;
    if (dt > windowLength) {
      v[0] = v[1]!;
      t[0] = t[1]!;
      v[1] = v[2]!;
      t[1] = t[2]!;
      v[2] = value;
      t[2] = time;
      if (time - t[0]! > windowLength) {
        v[0] = v[1]!;
        t[0] = t[1]!;
        v[1] = v[2]!;
        t[1] = t[2]!;
      }
    } else if (v[1] === v[0] && dt > windowLength / 4) {
      v[1] = v[2] = value;
      t[1] = t[2] = time;
    } else if (v[2] === v[1] && dt > windowLength / 2) {
      v[2] = value;
      t[2] = time;
    }
  }
}
