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
  // on locals, written back once: indexing s[o + k] throughout made the function too large
  // for V8 to inline into BBR's per-ACK code
  let v0 = s[o]!;
  let t2 = s[o + 5]!;
  if (value >= v0 || time - t2 > windowLength) {
    maxFilterReset(s, o, value, time);
    return;
  }
  let v1 = s[o + 1]!;
  let v2 = s[o + 2]!;
  let t0 = s[o + 3]!;
  let t1 = s[o + 4]!;
  if (value >= v1) {
    v1 = v2 = value;
    t1 = t2 = time;
  } else if (value >= v2) {
    v2 = value;
    t2 = time;
  }
  // expire the best samples that left the window
  const dt = time - t0;
  if (dt > windowLength) {
    v0 = v1;
    t0 = t1;
    v1 = v2;
    t1 = t2;
    v2 = value;
    t2 = time;
    if (time - t0 > windowLength) {
      v0 = v1;
      t0 = t1;
      v1 = v2;
      t1 = t2;
    }
  } else if (v1 === v0 && dt > windowLength / 4) {
    v1 = v2 = value;
    t1 = t2 = time;
  } else if (v2 === v1 && dt > windowLength / 2) {
    v2 = value;
    t2 = time;
  }
  s[o] = v0;
  s[o + 1] = v1;
  s[o + 2] = v2;
  s[o + 3] = t0;
  s[o + 4] = t1;
  s[o + 5] = t2;
}
