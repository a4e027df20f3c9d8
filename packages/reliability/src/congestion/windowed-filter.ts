/**
 * Kathleen Nichols' windowed min/max filter as used by BBR (draft-cardwell-iccrg-bbr-congestion-
 * control §4.1): the best, second best and third best samples in a sliding window, O(1) per
 * update.
 *
 * A filter is MAX_FILTER_SLOTS doubles at offset `o` of its owner's numeric state (values of the
 * best, second and third best samples, then their times), not an object of its own: BBR keeps
 * two filters and the rest of its numbers in one array (an idle connection's heap, issue 19).
 */
export const MAX_FILTER_SLOTS = 6;

/** The best sample in the window. */
export function maxFilterGet(s: number[], o: number): number {
  return s[o]!;
}

/** Forgets every sample: `value` at `time` is the best, second and third best. */
export function maxFilterReset(s: number[], o: number, value: number, time: number): void {
  s[o] = s[o + 1] = s[o + 2] = value;
  s[o + 3] = s[o + 4] = s[o + 5] = time;
}

/** Adds a sample; `windowLength` is the window for this update (BBR's extra_acked filter
 * remembers one round in Startup and 10 after, draft-cardwell-ccwg-bbr §4.5.9). */
export function maxFilterUpdate(
  s: number[],
  o: number,
  value: number,
  time: number,
  windowLength: number,
): void {
  // v0..v2 = s[o..o+2], t0..t2 = s[o+3..o+5]
  if (value >= s[o]! || time - s[o + 5]! > windowLength) {
    maxFilterReset(s, o, value, time);
    return;
  }
  if (value >= s[o + 1]!) {
    s[o + 1] = s[o + 2] = value;
    s[o + 4] = s[o + 5] = time;
  } else if (value >= s[o + 2]!) {
    s[o + 2] = value;
    s[o + 5] = time;
  }
  // expire the best samples that left the window
  const dt = time - s[o + 3]!;
  if (dt > windowLength) {
    s[o] = s[o + 1]!;
    s[o + 3] = s[o + 4]!;
    s[o + 1] = s[o + 2]!;
    s[o + 4] = s[o + 5]!;
    s[o + 2] = value;
    s[o + 5] = time;
    if (time - s[o + 3]! > windowLength) {
      s[o] = s[o + 1]!;
      s[o + 3] = s[o + 4]!;
      s[o + 1] = s[o + 2]!;
      s[o + 4] = s[o + 5]!;
    }
  } else if (s[o + 1] === s[o] && dt > windowLength / 4) {
    s[o + 1] = s[o + 2] = value;
    s[o + 4] = s[o + 5] = time;
  } else if (s[o + 2] === s[o + 1] && dt > windowLength / 2) {
    s[o + 2] = value;
    s[o + 5] = time;
  }
}
