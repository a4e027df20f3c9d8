/**
 * Where the time-valued numbers of a connection's small state machines live (an idle
 * connection's heap, issue 19). V8 keeps a class field that holds a non-integer (a timestamp, an
 * RTT, a rate, +Infinity) as a separate 16-byte heap number: ~27 such fields of an idle
 * connection were ~430 bytes of boxes. Their owners keep them as accessors onto fixed slots of
 * one array of doubles (stored unboxed): one array per connection, created by the connection,
 * and one per path, created by the path, each passed down to the parts that use it. A part
 * created on its own (tests) gets an array of its own.
 */

/**
 * An array of `slots` zeros, packed and of doubles from the start: `new Array(n)` would make a
 * holey array (every load then checks for a hole) of small integers that turns into one of doubles
 * at its first non-integer (a map change the per-packet code would see both sides of).
 */
function doubleZeros(slots: number): number[] {
  let a = [0.5];
  while (a.length < slots) a = a.concat(a);
  return (a.length === slots ? a : a.slice(0, slots)).fill(0);
}

/** Zeros already packed as doubles, never written: `slice` copies keep that kind (one copy per
 * call, where building one by doubling took six arrays, several times per new connection). */
const ZEROS = doubleZeros(64);

/** {@link doubleZeros}: a copy of a prefix of {@link ZEROS} when it is long enough. */
export function numericSlots(slots: number): number[] {
  return slots <= ZEROS.length ? ZEROS.slice(0, slots) : doubleZeros(slots);
}

// one array per connection (ReliableConnection)
/** DeliveryRateSampler: 5 slots */
export const RATE_AT = 0;
/** LossRecovery: 3 slots */
export const RECOVERY_AT = 5;
/** AckTracker: 2 slots */
export const ACKS_AT = 8;
/** Liveness: 3 slots */
export const LIVENESS_AT = 10;
/** ReliableConnection: 1 slot */
export const CONNECTION_AT = 13;
/** TimerTable: one slot per timer (timers.ts, Timer) */
export const TIMERS_AT = 14;
export const CONNECTION_SLOTS = 22;

// one array per path (PathState)
/** PathState: 2 slots */
export const PATH_AT = 0;
/** RttEstimator: 5 slots */
export const RTT_AT = 2;
/** Pacer: 4 slots */
export const PACER_AT = 7;
/** Pmtud: 1 slot */
export const PMTUD_AT = 11;
export const PATH_SLOTS = 12;
