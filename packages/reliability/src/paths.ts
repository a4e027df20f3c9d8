/**
 * The state a connection keeps per network path (quinn-proto's `paths.rs`): RTT estimator,
 * congestion controller, pacer and PMTU discovery, with the rules that belong to one path only
 * (pacing rate, PMTU probes acknowledged or lost, black-hole detection). A connection sends on
 * one active path; `resetPath` (a migration, RFC 9000 §9.4) replaces it with a fresh one.
 *
 * Designed for several paths per connection with one active (relayed and direct paths later):
 * nothing here refers to the connection, so a path table can hold several `PathState`s and each
 * sent packet can name the one it left on. Not yet per path: packet numbers, bytes in flight,
 * loss detection (`LossRecovery`) and delivery-rate sampling, which span the connection as they
 * did before the split.
 */
import type { CongestionController, CongestionControllerFactory } from './congestion/controller.js';
import { numericSlots, PATH_AT, PATH_SLOTS } from './numeric-slots.js';
import { Pacer } from './pacer.js';
import { BASE_PLPMTU, Pmtud } from './pmtud.js';
import { RttEstimator } from './rtt.js';
import type { SentPacket } from './sent-packet.js';

/** RFC 8899 §4.3 black hole: this many full-size packets lost without one acknowledged. */
export const BLACK_HOLE_LOSSES = 8;
/** ... or this many consecutive PTOs. */
export const BLACK_HOLE_PTOS = 3;

export interface PathConfig {
  readonly initialRtt: number;
  readonly maxUdpPayload: number;
  readonly congestion: CongestionControllerFactory;
  readonly log: ((message: string) => void) | null;
}

export class PathState {
  /** the numbers of this path and its parts that change with time (numeric-slots.ts) */
  private readonly numbers = numericSlots(PATH_SLOTS);
  readonly rtt: RttEstimator;
  readonly pmtud: Pmtud;
  readonly cc: CongestionController;
  readonly pacer: Pacer;
  /** full-size packets lost since one was acknowledged (black-hole detection) */
  private bigLossStreak = 0;
  /**
   * This path's own timers as of the end of the latest input (`armTimers`): the pacer's next
   * send time and the next PMTU search, each +Infinity when not in the future then. A deadline
   * that an input has reached is left to that input's send opportunity, not reported again.
   */
  get pacingAt(): number {
    return this.numbers[PATH_AT + 0]!;
  }
  set pacingAt(x: number) {
    this.numbers[PATH_AT + 0] = x;
  }
  get searchAt(): number {
    return this.numbers[PATH_AT + 1]!;
  }
  set searchAt(x: number) {
    this.numbers[PATH_AT + 1] = x;
  }

  constructor(
    private readonly config: PathConfig,
    now: number,
  ) {
    this.pacingAt = Number.POSITIVE_INFINITY;
    this.searchAt = Number.POSITIVE_INFINITY;
    this.rtt = new RttEstimator(config.initialRtt, this.numbers);
    this.pmtud = new Pmtud(config.maxUdpPayload, this.numbers);
    this.cc = config.congestion({ maxDatagramSize: BASE_PLPMTU, now });
    this.pacer = new Pacer(now, BASE_PLPMTU, this.numbers);
  }

  /** Current PLPMTU in bytes of UDP payload. */
  get mtu(): number {
    return this.pmtud.current;
  }

  /** RFC 9002 §6.2.1 probe timeout (without backoff). */
  pto(maxAckDelay: number): number {
    return this.rtt.pto(maxAckDelay);
  }

  /** Bytes per ms; before the first RTT sample the window alone limits (no pacing). */
  pacingRate(): number {
    if (!this.rtt.hasSample) return Number.POSITIVE_INFINITY;
    const r = this.cc.pacingRate();
    if (r > 0) return r;
    const srtt = Math.max(this.rtt.smoothed, 0.001);
    // RFC 9002 §7.7: N = 1.25; twice that in slow start so the window can double per RTT
    const gain = this.cc.inSlowStart?.() === true ? 2 : 1.25;
    return (gain * this.cc.window()) / srtt;
  }

  /** Re-arms `pacingAt` and `searchAt` at the end of an input at `now`. */
  armTimers(now: number): void {
    const ns = this.pacer.nextSendTime(now, this.pmtud.current);
    this.pacingAt = ns > now ? ns : Number.POSITIVE_INFINITY;
    const search = this.pmtud.nextSearchTime();
    this.searchAt = search > now ? search : Number.POSITIVE_INFINITY;
  }

  /** A packet sent on this path was acknowledged; returns the new PMTU when a probe raised it, else 0. */
  onAcked(now: number, p: SentPacket): number {
    if (p.mtuProbe) return this.onProbeAcked(now, p);
    if (p.size > BASE_PLPMTU) this.bigLossStreak = 0;
    return 0;
  }

  /**
   * A non-probe packet sent on this path was declared lost; returns the new PMTU (BASE_PLPMTU)
   * when that makes a black hole, else 0.
   */
  onLost(now: number, p: SentPacket): number {
    if (p.size > BASE_PLPMTU && this.pmtud.current > BASE_PLPMTU) {
      this.bigLossStreak++;
      if (this.bigLossStreak >= BLACK_HOLE_LOSSES) return this.onBlackHole(now);
    }
    return 0;
  }

  /** A PMTU probe was declared lost (a probe from before `resetPath` belongs to the old search). */
  onProbeLost(now: number, p: SentPacket): void {
    if (p.pn === this.pmtud.probePn) this.pmtud.onProbeLost(now);
  }

  /** The `ptoCount`-th consecutive PTO fired; returns BASE_PLPMTU when that makes a black hole, else 0. */
  onPto(now: number, ptoCount: number): number {
    if (ptoCount >= BLACK_HOLE_PTOS && this.pmtud.current > BASE_PLPMTU) return this.onBlackHole(now);
    return 0;
  }

  private onBlackHole(now: number): number {
    this.config.log?.(`PMTU black hole at ${this.pmtud.current} bytes: back to ${BASE_PLPMTU}`);
    this.bigLossStreak = 0;
    this.pmtud.onBlackHole(now);
    this.cc.onMtuChange(this.pmtud.current);
    return this.pmtud.current;
  }

  private onProbeAcked(now: number, p: SentPacket): number {
    if (p.pn !== this.pmtud.probePn) return 0;
    const before = this.pmtud.current;
    const mtu = this.pmtud.onProbeAcked(now);
    if (mtu === before) return 0;
    this.config.log?.(`PMTU ${before} -> ${mtu}`);
    this.cc.onMtuChange(mtu);
    return mtu;
  }
}
