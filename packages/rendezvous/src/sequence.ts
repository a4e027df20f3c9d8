/**
 * Sequence numbers that survive restarts without storage: microseconds since the Unix epoch, and
 * at least one above the last number used. A restarted peer therefore publishes a number above
 * everything it published before, as long as its clock did not step back by more than the time
 * it was down. 2^53 microseconds is the year 2255, so numbers stay exact JavaScript integers.
 */
export function nextSequence(lastSeq: number | undefined, nowMs: number): number {
  const fromClock = Math.floor(nowMs) * 1000;
  const next = lastSeq === undefined ? fromClock : Math.max(lastSeq + 1, fromClock);
  if (!Number.isSafeInteger(next)) throw new RangeError(`sequence number ${next} is not a safe integer`);
  return next;
}
