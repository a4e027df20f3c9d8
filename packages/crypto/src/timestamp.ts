/**
 * Initiation timestamps (WireGuard §5.4.2: TAI64N in the encrypted first handshake message). A
 * responder accepts an IK initiation from a key only when its timestamp is greater than the last
 * one it accepted from that key, so a recorded initiation replayed later is refused without state.
 *
 * Encoding: 12 bytes big-endian, TAI64N: an 8-byte label 2^62 + seconds since 1970 (leap seconds
 * ignored, as WireGuard does), then 4 bytes of nanoseconds. Byte order equals numeric order, so
 * two timestamps compare with a plain byte comparison.
 *
 * The time is the driver's monotonic `now` plus a wall-clock offset given once at construction
 * (`SecureEndpointConfig.wallClockOffsetMs`; the Node façade passes `performance.timeOrigin`), so
 * a restarted initiator, whose monotonic clock starts again, still sends greater timestamps. No
 * clock is read here: the package stays sans-IO.
 */
export const TIMESTAMP_LENGTH = 12;

const TAI64_BASE_HI = 0x4000_0000; // 2^62 as the high 32 bits of the 64-bit label

/** Issues strictly increasing timestamps from `offsetMs + now`. */
export class TimestampClock {
  private lastSec = -1;
  private lastNs = 0;

  constructor(private readonly offsetMs: number) {}

  /** A timestamp for `now`, greater than every one issued before by this clock. */
  next(now: number): Uint8Array {
    const ms = Math.max(0, this.offsetMs + now);
    let sec = Math.floor(ms / 1000);
    let ns = Math.floor((ms - sec * 1000) * 1e6);
    if (sec < this.lastSec || (sec === this.lastSec && ns <= this.lastNs)) {
      // same or earlier instant (two handshakes in one millisecond): one nanosecond later
      sec = this.lastSec;
      ns = this.lastNs + 1;
      if (ns >= 1e9) {
        sec++;
        ns = 0;
      }
    }
    this.lastSec = sec;
    this.lastNs = ns;
    return encodeTimestamp(sec, ns);
  }
}

export function encodeTimestamp(sec: number, ns: number): Uint8Array {
  const out = new Uint8Array(TIMESTAMP_LENGTH);
  const v = new DataView(out.buffer);
  v.setUint32(0, TAI64_BASE_HI + Math.floor(sec / 0x1_0000_0000));
  v.setUint32(4, sec >>> 0);
  v.setUint32(8, ns);
  return out;
}

/** Negative, zero or positive as `a` is earlier than, equal to or later than `b`. */
export function compareTimestamps(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < TIMESTAMP_LENGTH; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}
