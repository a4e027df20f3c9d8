/**
 * Every timer of a connection in one table (quinn-proto's `timer.rs`): `pollTimeout()` is the
 * earliest armed entry. Each timer has one owner that computes its deadline; `closing.ts` copies
 * the deadlines into the table before `pollTimeout()` answers and acts on them in
 * `handleTimeout(now)`.
 *
 * | timer | deadline | owner | on expiry |
 * |---|---|---|---|
 * | Ack | largest unacknowledged ack-eliciting packet + max_ack_delay (RFC 9000 §13.2.1) | `AckTracker` | the next `pollTransmit` sends the ACK |
 * | LossDetection | time-threshold loss, else PTO with backoff (RFC 9002 §6.1.2, §6.2) | `LossRecovery` | declare losses, or send two probes |
 * | Idle | last receipt (or first ack-eliciting send after it) + max(idle timeout, 3 PTO) (RFC 9000 §10.1) | `Liveness` | closed silently |
 * | KeepAlive | last send + keepaliveMs | `Liveness` | a PING is owed |
 * | PmtuSearch | PMTU_RAISE_TIMER or black-hole retry (RFC 8899 §5.1.1) | the path's `Pmtud` | the next send opportunity probes |
 * | Pacing | when the pacer lets the next full packet go (RFC 9002 §7.7), armed only while data waits for nothing else | the path's `Pacer` | the next `pollTransmit` sends |
 * | Close | end of closing / draining: 3 PTO (RFC 9000 §10.2) | `CloseState` (close.ts) | state `closed` |
 * | RttProbe | the next RTT warm-up PING: open + 50, 150, 350 ms (an answering side's first: open + 250 ms; any may leave earlier with the ACK of the peer's PING, see liveness.ts) | `Liveness` | a PING is owed; after the last, the RTT samples stop being provisional |
 */
import { CONNECTION_SLOTS, numericSlots, TIMERS_AT } from './numeric-slots.js';

export const Timer = {
  Ack: 0,
  LossDetection: 1,
  Idle: 2,
  KeepAlive: 3,
  PmtuSearch: 4,
  Pacing: 5,
  Close: 6,
  RttProbe: 7,
} as const;
export type TimerId = (typeof Timer)[keyof typeof Timer];

export type TimerName = keyof typeof Timer;

export const TIMER_NAMES: readonly TimerName[] = Object.freeze(Object.keys(Timer) as TimerName[]);

const COUNT = TIMER_NAMES.length;

/** Absolute deadlines (ms) by timer; +Infinity = not armed. */
export class TimerTable {
  // deadlines in slots of the connection's array of doubles (numeric-slots.ts), not an array of
  // their own (~110 bytes) or a Float64Array with its ArrayBuffer (~250): idle heap, issue 19
  constructor(private readonly numbers: number[] = numericSlots(CONNECTION_SLOTS)) {
    this.stopAll();
  }

  set(timer: TimerId, at: number): void {
    this.numbers[TIMERS_AT + timer] = at;
  }

  stop(timer: TimerId): void {
    this.numbers[TIMERS_AT + timer] = Number.POSITIVE_INFINITY;
  }

  stopAll(): void {
    for (let i = 0; i < COUNT; i++) this.numbers[TIMERS_AT + i] = Number.POSITIVE_INFINITY;
  }

  get(timer: TimerId): number {
    return this.numbers[TIMERS_AT + timer]!;
  }

  /** True when `timer` is armed and its deadline is at or before `now`. */
  expired(timer: TimerId, now: number): boolean {
    return this.numbers[TIMERS_AT + timer]! <= now;
  }

  /** The earliest armed deadline, or null when none is armed. */
  next(): number | null {
    let t = Number.POSITIVE_INFINITY;
    for (let i = 0; i < COUNT; i++) if (this.numbers[TIMERS_AT + i]! < t) t = this.numbers[TIMERS_AT + i]!;
    return Number.isFinite(t) ? t : null;
  }

  /** The armed timers by name, earliest first (logs, tests). */
  armed(): { timer: TimerName; at: number }[] {
    const out: { timer: TimerName; at: number }[] = [];
    for (let i = 0; i < COUNT; i++) {
      const at = this.numbers[TIMERS_AT + i]!;
      if (at !== Number.POSITIVE_INFINITY) out.push({ timer: TIMER_NAMES[i]!, at });
    }
    return out.sort((a, b) => a.at - b.at);
  }
}

/** COUNT slots exactly (a push from empty would reserve 17) */
