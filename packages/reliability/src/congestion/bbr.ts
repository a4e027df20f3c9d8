/**
 * BBR v1 (draft-cardwell-iccrg-bbr-congestion-control-00, "BBR: Congestion-Based Congestion
 * Control", ACM Queue 2016). A model of the path, the bottleneck bandwidth (windowed max of the
 * delivery rate over 10 round trips) and the round-trip propagation time (min RTT over 10 s),
 * sets the pacing rate (pacing_gain x BtlBw) and the window (cwnd_gain x BDP). States: Startup
 * (gain 2/ln 2 until the bandwidth stops growing by 25% for 3 rounds), Drain, ProbeBW (the
 * 8-phase gain cycle 1.25, 0.75, 1 x 6) and ProbeRTT (4 packets for 200 ms every 10 s without a
 * new min RTT). Loss is not a congestion signal in v1, except persistent congestion (RFC 9002
 * §7.6), which falls back to the minimum window, and packet conservation for a round after a
 * loss that comes with a queue (§4.2.3.4).
 *
 * Two loss responses are taken from BBRv2/v3 (draft-cardwell-ccwg-bbr §4.5.6, §4.5.10) because
 * v1 alone loses 5-8% of its packets against a one-BDP drop-tail queue: Startup ends when a
 * round loses more than 2% of its data, and such a round caps the window at inflight_hi =
 * max(0.85 x inflight at the loss, 1 BDP + aggregation budget + 3 packets), which then grows
 * back by one packet per clean round (AIMD, so competing flows converge). A round counts as
 * lossy only when its minimum RTT shows a standing queue (25% above RTprop): random loss on an
 * unqueued path is ignored, as in v1, which is what keeps BBR fast on lossy links.
 *
 * ACK aggregation (draft-cardwell-ccwg-bbr §4.5.9, §4.6.4.2; Linux tcp_bbr.c since 2019): once
 * the pipe is full the window target is cwnd_gain x BDP + extra_acked + 3 packets, where
 * extra_acked is the 10-round max of the data acknowledged beyond BtlBw x elapsed in an ACK burst,
 * capped at 100 ms of BtlBw. Without it a short path whose ACKs come in batches (event loops that
 * read 32 datagrams per wake-up, on both ends) is window-limited far below its bandwidth.
 */

import { numericSlots } from '../numeric-slots.js';
import {
  type AckEvent,
  type CongestionController,
  type CongestionControllerOptions,
  initialWindow,
  type LossEvent,
} from './controller.js';
import { MAX_FILTER_SLOTS, maxFilterGet, maxFilterUpdate } from './windowed-filter.js';

const HIGH_GAIN = 2 / Math.LN2; // 2.885
const BW_WINDOW_ROUNDS = 10;
const RTPROP_WINDOW_MS = 10_000;
const PROBE_RTT_DURATION_MS = 200;
const PACING_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1] as const;
const MIN_PIPE_PACKETS = 4;
const LOSS_THRESHOLD = 0.02;
const STANDING_QUEUE_ROUNDS = 8;
/** draft-cardwell-ccwg-bbr §4.5.9 BBRExtraAckedFilterLen (packet-timed rounds) */
const EXTRA_ACKED_WINDOW_ROUNDS = 10;
/** Linux tcp_bbr.c bbr_extra_acked_max_us: the aggregation budget is at most 100 ms of BtlBw */
const EXTRA_ACKED_MAX_MS = 100;

type Mode = 'startup' | 'drain' | 'probe_bw' | 'probe_rtt';

/**
 * The slots of a Bbr's numeric state. Its numbers live in one array of doubles (stored unboxed)
 * behind the private accessors below, with both windowed filters: as fields, the ten or so that
 * hold non-integers were a 16-byte heap number each, and the filters two objects with an array
 * each (an idle connection's heap, issue 19).
 */
const MSS = 0;
const CWND = 1;
const PACING_GAIN = 2;
const CWND_GAIN = 3;
const RT_PROP = 4;
const RT_PROP_STAMP = 5;
const ROUND = 6;
const NEXT_ROUND_DELIVERED = 7;
const FULL_BW = 8;
const FULL_BW_COUNT = 9;
const CYCLE_INDEX = 10;
const CYCLE_STAMP = 11;
const PROBE_RTT_DONE_STAMP = 12;
const PRIOR_CWND = 13;
const PACING = 14;
const ROUND_LOST = 15;
const ROUND_ACKED = 16;
const INFLIGHT_AT_LOSS = 17;
const INFLIGHT_HI = 18;
const ROUND_MIN_RTT = 19;
const LAST_RTT = 20;
const RECOVERY_ROUND = 21;
const QUEUED_ROUNDS = 22;
const INFLIGHT_NOW = 23;
const EXTRA_ACKED_INTERVAL_START = 24;
const EXTRA_ACKED_DELIVERED = 25;
/** the BtlBw filter's slots (windowed-filter.ts), then the extra_acked filter's */
const BTL_BW = 26;
const EXTRA_ACKED = BTL_BW + MAX_FILTER_SLOTS;
const SLOTS = EXTRA_ACKED + MAX_FILTER_SLOTS;

export class Bbr implements CongestionController {
  readonly name = 'bbr';
  private readonly v: number[] = numericSlots(SLOTS);
  private mode: Mode = 'startup';
  private rtPropExpired = false;
  private roundStart = false;
  private filledPipe = false;
  private probeRttRoundDone = false;
  private idleRestart = false;
  private inRecovery = false;

  constructor(options: CongestionControllerOptions) {
    // the slots not set here start at 0
    this.pacingGain = HIGH_GAIN;
    this.cwndGain = HIGH_GAIN;
    this.rtProp = Number.POSITIVE_INFINITY;
    this.cycleIndex = 2;
    this.probeRttDoneStamp = -1;
    this.inflightHi = Number.POSITIVE_INFINITY;
    this.roundMinRtt = Number.POSITIVE_INFINITY;
    this.mss = options.maxDatagramSize;
    this.cwnd = initialWindow(this.mss);
    this.rtPropStamp = options.now;
    // pacing rate before the first RTT sample: initial window over 1 ms-resolution 333 ms RTT
    this.pacing = (HIGH_GAIN * this.cwnd) / 333;
  }

  private get mss(): number {
    return this.v[MSS]!;
  }
  private set mss(x: number) {
    this.v[MSS] = x;
  }
  private get cwnd(): number {
    return this.v[CWND]!;
  }
  private set cwnd(x: number) {
    this.v[CWND] = x;
  }
  private get pacingGain(): number {
    return this.v[PACING_GAIN]!;
  }
  private set pacingGain(x: number) {
    this.v[PACING_GAIN] = x;
  }
  private get cwndGain(): number {
    return this.v[CWND_GAIN]!;
  }
  private set cwndGain(x: number) {
    this.v[CWND_GAIN] = x;
  }
  private get rtProp(): number {
    return this.v[RT_PROP]!;
  }
  private set rtProp(x: number) {
    this.v[RT_PROP] = x;
  }
  private get rtPropStamp(): number {
    return this.v[RT_PROP_STAMP]!;
  }
  private set rtPropStamp(x: number) {
    this.v[RT_PROP_STAMP] = x;
  }
  private get round(): number {
    return this.v[ROUND]!;
  }
  private set round(x: number) {
    this.v[ROUND] = x;
  }
  private get nextRoundDelivered(): number {
    return this.v[NEXT_ROUND_DELIVERED]!;
  }
  private set nextRoundDelivered(x: number) {
    this.v[NEXT_ROUND_DELIVERED] = x;
  }
  private get fullBw(): number {
    return this.v[FULL_BW]!;
  }
  private set fullBw(x: number) {
    this.v[FULL_BW] = x;
  }
  private get fullBwCount(): number {
    return this.v[FULL_BW_COUNT]!;
  }
  private set fullBwCount(x: number) {
    this.v[FULL_BW_COUNT] = x;
  }
  private get cycleIndex(): number {
    return this.v[CYCLE_INDEX]!;
  }
  private set cycleIndex(x: number) {
    this.v[CYCLE_INDEX] = x;
  }
  private get cycleStamp(): number {
    return this.v[CYCLE_STAMP]!;
  }
  private set cycleStamp(x: number) {
    this.v[CYCLE_STAMP] = x;
  }
  private get probeRttDoneStamp(): number {
    return this.v[PROBE_RTT_DONE_STAMP]!;
  }
  private set probeRttDoneStamp(x: number) {
    this.v[PROBE_RTT_DONE_STAMP] = x;
  }
  private get priorCwnd(): number {
    return this.v[PRIOR_CWND]!;
  }
  private set priorCwnd(x: number) {
    this.v[PRIOR_CWND] = x;
  }
  private get pacing(): number {
    return this.v[PACING]!;
  }
  private set pacing(x: number) {
    this.v[PACING] = x;
  }
  private get roundLost(): number {
    return this.v[ROUND_LOST]!;
  }
  private set roundLost(x: number) {
    this.v[ROUND_LOST] = x;
  }
  private get roundAcked(): number {
    return this.v[ROUND_ACKED]!;
  }
  private set roundAcked(x: number) {
    this.v[ROUND_ACKED] = x;
  }
  private get inflightAtLoss(): number {
    return this.v[INFLIGHT_AT_LOSS]!;
  }
  private set inflightAtLoss(x: number) {
    this.v[INFLIGHT_AT_LOSS] = x;
  }
  private get inflightHi(): number {
    return this.v[INFLIGHT_HI]!;
  }
  private set inflightHi(x: number) {
    this.v[INFLIGHT_HI] = x;
  }
  private get roundMinRtt(): number {
    return this.v[ROUND_MIN_RTT]!;
  }
  private set roundMinRtt(x: number) {
    this.v[ROUND_MIN_RTT] = x;
  }
  private get lastRtt(): number {
    return this.v[LAST_RTT]!;
  }
  private set lastRtt(x: number) {
    this.v[LAST_RTT] = x;
  }
  private get recoveryRound(): number {
    return this.v[RECOVERY_ROUND]!;
  }
  private set recoveryRound(x: number) {
    this.v[RECOVERY_ROUND] = x;
  }
  private get queuedRounds(): number {
    return this.v[QUEUED_ROUNDS]!;
  }
  private set queuedRounds(x: number) {
    this.v[QUEUED_ROUNDS] = x;
  }
  private get inflightNow(): number {
    return this.v[INFLIGHT_NOW]!;
  }
  private set inflightNow(x: number) {
    this.v[INFLIGHT_NOW] = x;
  }
  private get extraAckedIntervalStart(): number {
    return this.v[EXTRA_ACKED_INTERVAL_START]!;
  }
  private set extraAckedIntervalStart(x: number) {
    this.v[EXTRA_ACKED_INTERVAL_START] = x;
  }
  private get extraAckedDelivered(): number {
    return this.v[EXTRA_ACKED_DELIVERED]!;
  }
  private set extraAckedDelivered(x: number) {
    this.v[EXTRA_ACKED_DELIVERED] = x;
  }

  window(): number {
    return this.cwnd;
  }

  pacingRate(): number {
    return this.pacing;
  }

  /** Bottleneck bandwidth estimate in bytes per ms. */
  bandwidth(): number {
    return maxFilterGet(this.v, BTL_BW);
  }

  state(): Mode {
    return this.mode;
  }

  /**
   * The ACK-aggregation budget added to the window target, bytes: extra_acked (§4.5.9) capped at
   * 100 ms of BtlBw (Linux bbr_ack_aggregation_cwnd). Zero until the pipe is full, as in Linux
   * BBR v1: the draft (BBRv3) adds it in Startup too, but its Startup cwnd_gain is 2 where v1's
   * (ours) is 2/ln 2, which already leaves ~0.9 BDP of headroom; in the sim, adding it in
   * Startup as well only raised Startup's loss (0.2% -> 1.6% on a 200 Mbit/s, 0.5 ms path with
   * 1 ms ACK batches) for the same goodput.
   */
  aggregationBudget(): number {
    if (!this.filledPipe) return 0;
    return Math.min(maxFilterGet(this.v, EXTRA_ACKED), maxFilterGet(this.v, BTL_BW) * EXTRA_ACKED_MAX_MS);
  }

  onPacketSent(_now: number, _bytes: number, bytesInFlight: number): void {
    if (bytesInFlight === 0) this.idleRestart = true;
  }

  private bdp(gain: number): number {
    if (!Number.isFinite(this.rtProp) || maxFilterGet(this.v, BTL_BW) === 0) return initialWindow(this.mss);
    return gain * maxFilterGet(this.v, BTL_BW) * this.rtProp;
  }

  private targetCwnd(gain: number): number {
    // §4.2.3.2: BDP plus quanta for delayed/aggregated ACKs, plus the measured degree of ACK
    // aggregation (draft-cardwell-ccwg-bbr §4.6.4.2 BBRUpdateMaxInflight: inflight =
    // BDPMultiple(cwnd_gain) + extra_acked). v1's 2 x BDP only covers ACKs delayed by up to one
    // RTprop; when the receiver (or the sender's own event loop) handles datagrams in batches,
    // ACKs arrive a batch at a time, the RTT the data sees is several times RTprop on a short
    // path, and a 2 x BDP window runs dry between ACK bursts.
    const inflight = this.bdp(gain) + this.aggregationBudget();
    return Math.max(inflight + 3 * this.mss, MIN_PIPE_PACKETS * this.mss);
  }

  onAck(now: number, ack: AckEvent): void {
    const rs = ack.rate;
    // round counting (§4.1.1.3)
    this.roundStart = false;
    if (rs.delivered > 0 && rs.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = ack.delivered;
      this.round++;
      this.roundStart = true;
    }
    // BtlBw (§4.1.1.5): app-limited samples only count when they raise the estimate
    if (rs.delivered > 0 && rs.interval > 0) {
      const bw = rs.delivered / rs.interval;
      if (!rs.isAppLimited || bw >= maxFilterGet(this.v, BTL_BW))
        maxFilterUpdate(this.v, BTL_BW, bw, this.round, BW_WINDOW_ROUNDS);
    }
    // RTprop (§4.1.2.3)
    this.rtPropExpired = now > this.rtPropStamp + RTPROP_WINDOW_MS;
    if (rs.rtt >= 0 && (rs.rtt <= this.rtProp || this.rtPropExpired)) {
      this.rtProp = rs.rtt;
      this.rtPropStamp = now;
    }
    this.updateAckAggregation(now, ack.ackedBytes);
    this.roundAcked += ack.ackedBytes;
    this.inflightNow = ack.bytesInFlight + ack.ackedBytes;
    if (rs.rtt >= 0 && rs.rtt < this.roundMinRtt) this.roundMinRtt = rs.rtt;
    if (rs.rtt >= 0) this.lastRtt = rs.rtt;
    if (this.roundStart) this.checkLossRound();
    if (this.inRecovery && this.roundStart && this.round > this.recoveryRound) {
      this.inRecovery = false;
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    }
    this.checkFullPipe(rs.isAppLimited);
    this.checkDrain(ack.bytesInFlight);
    this.updateCycle(now, ack.bytesInFlight);
    this.checkProbeRtt(now, ack.bytesInFlight);
    this.setPacingRate(ack);
    this.setCwnd(ack);
  }

  /**
   * draft-cardwell-ccwg-bbr §4.5.9 BBRUpdateACKAggregation (Linux bbr_update_ack_aggregation):
   * the data acknowledged beyond what BtlBw predicts since the start of the current aggregation
   * episode. An episode ends (and a new one starts now) as soon as the ACKs have delivered no
   * more than BtlBw x elapsed, i.e. the ACK rate fell to the expected rate. Each sample is capped
   * by cwnd; the estimate is a windowed max over 10 rounds once the pipe is full and over 1
   * round in Startup, where the bandwidth estimate still lags and older samples overstate the
   * aggregation (the draft's filter_len = 1).
   */
  private updateAckAggregation(now: number, ackedBytes: number): void {
    if (ackedBytes <= 0) return;
    let expected = maxFilterGet(this.v, BTL_BW) * (now - this.extraAckedIntervalStart);
    if (this.extraAckedDelivered <= expected) {
      this.extraAckedDelivered = 0;
      this.extraAckedIntervalStart = now;
      expected = 0;
    }
    this.extraAckedDelivered += ackedBytes;
    const extra = Math.min(this.extraAckedDelivered - expected, this.cwnd);
    maxFilterUpdate(this.v, EXTRA_ACKED, extra, this.round, this.filledPipe ? EXTRA_ACKED_WINDOW_ROUNDS : 1);
  }

  /** Once per round: a lossy round (> 2%, at least 3 packets) ends Startup and sets inflight_hi. */
  private checkLossRound(): void {
    const lost = this.roundLost;
    const total = lost + this.roundAcked;
    // only loss that comes with a standing queue (the round's minimum RTT 25% above RTprop)
    // counts: a full drop-tail buffer, not random loss on the path
    const queued = this.roundMinRtt > 1.25 * this.rtProp;
    this.queuedRounds = queued ? this.queuedRounds + 1 : 0;
    // the floor of both cuts is targetCwnd(1) = 1 BDP + the ACK-aggregation budget + 3 packets:
    // with aggregated ACKs every RTT sample carries the batching delay, so the rounds look
    // "queued" although the pipe is merely full, and a floor of 1 BDP would starve it
    if (queued && lost >= 3 * this.mss && lost > LOSS_THRESHOLD * total) {
      if (!this.filledPipe) this.filledPipe = true;
      this.inflightHi = Math.max(0.85 * this.inflightAtLoss, this.targetCwnd(1));
    } else if (this.mode === 'probe_bw' && this.queuedRounds >= STANDING_QUEUE_ROUNDS) {
      // a queue that never drains over several rounds: the flows together keep more than the
      // pipe in flight (BBRv1's 2 x BDP each); back off multiplicatively so they converge
      this.queuedRounds = 0;
      this.inflightHi = Math.max(0.85 * this.inflightNow, this.targetCwnd(1));
    } else if (Number.isFinite(this.inflightHi)) {
      // additive increase: with the multiplicative cut above this is AIMD, which makes
      // competing flows converge (BBRv2's loss response has the same shape)
      this.inflightHi += this.mss;
      if (this.inflightHi > this.targetCwnd(2) * 1.5) this.inflightHi = Number.POSITIVE_INFINITY;
    }
    this.roundLost = 0;
    this.roundAcked = 0;
    this.inflightAtLoss = 0;
    this.roundMinRtt = Number.POSITIVE_INFINITY;
  }

  private checkFullPipe(appLimited: boolean): void {
    if (this.filledPipe || !this.roundStart || appLimited) return;
    const bw = maxFilterGet(this.v, BTL_BW);
    if (bw >= this.fullBw * 1.25) {
      this.fullBw = bw;
      this.fullBwCount = 0;
      return;
    }
    this.fullBwCount++;
    if (this.fullBwCount >= 3) this.filledPipe = true;
  }

  private checkDrain(inflight: number): void {
    if (this.mode === 'startup' && this.filledPipe) {
      this.mode = 'drain';
      this.pacingGain = 1 / HIGH_GAIN;
      this.cwndGain = HIGH_GAIN;
    }
    if (this.mode === 'drain' && inflight <= this.bdp(1)) this.enterProbeBw(-1);
  }

  private enterProbeBw(now: number): void {
    this.mode = 'probe_bw';
    this.cwndGain = 2;
    // start in a cruising phase (the draft picks a random phase other than 0.75)
    this.cycleIndex = 2 + (this.round % 6);
    this.pacingGain = PACING_GAINS[this.cycleIndex]!;
    this.cycleStamp = now;
  }

  private updateCycle(now: number, inflight: number): void {
    if (this.mode !== 'probe_bw') return;
    if (this.cycleStamp < 0) this.cycleStamp = now;
    const elapsed = now - this.cycleStamp > this.rtProp;
    let advance = elapsed;
    if (this.pacingGain > 1) advance = elapsed && inflight >= this.bdp(this.pacingGain);
    else if (this.pacingGain < 1) advance = elapsed || inflight <= this.bdp(1);
    if (this.pacingGain > 1 && now - this.cycleStamp > 2 * this.rtProp) advance = true;
    if (advance) {
      this.cycleIndex = (this.cycleIndex + 1) % PACING_GAINS.length;
      this.cycleStamp = now;
      this.pacingGain = PACING_GAINS[this.cycleIndex]!;
    }
  }

  private checkProbeRtt(now: number, inflight: number): void {
    if (this.mode !== 'probe_rtt' && this.rtPropExpired && !this.idleRestart) {
      this.mode = 'probe_rtt';
      this.pacingGain = 1;
      this.cwndGain = 1;
      this.priorCwnd = Math.max(this.priorCwnd, this.cwnd);
      this.probeRttDoneStamp = -1;
    }
    if (this.mode === 'probe_rtt') {
      if (this.probeRttDoneStamp < 0 && inflight <= MIN_PIPE_PACKETS * this.mss) {
        this.probeRttDoneStamp = now + PROBE_RTT_DURATION_MS;
        this.probeRttRoundDone = false;
        this.nextRoundDelivered = 0;
      } else if (this.probeRttDoneStamp >= 0) {
        if (this.roundStart) this.probeRttRoundDone = true;
        if (this.probeRttRoundDone && now > this.probeRttDoneStamp) {
          this.rtPropStamp = now;
          this.cwnd = Math.max(this.cwnd, this.priorCwnd);
          this.priorCwnd = 0;
          if (this.filledPipe) this.enterProbeBw(now);
          else {
            this.mode = 'startup';
            this.pacingGain = HIGH_GAIN;
            this.cwndGain = HIGH_GAIN;
          }
        }
      }
    }
    this.idleRestart = false;
  }

  private setPacingRate(ack: AckEvent): void {
    const bw = maxFilterGet(this.v, BTL_BW);
    if (bw === 0) {
      if (ack.rtt.hasSample) this.pacing = (HIGH_GAIN * this.cwnd) / Math.max(ack.rtt.smoothed, 1);
      return;
    }
    const rate = this.pacingGain * bw;
    // §4.2.1: never lower the rate in Startup before the pipe is full
    if (this.filledPipe || rate > this.pacing) this.pacing = rate;
  }

  private setCwnd(ack: AckEvent): void {
    if (this.mode === 'probe_rtt') {
      this.cwnd = Math.max(MIN_PIPE_PACKETS * this.mss, Math.min(this.cwnd, MIN_PIPE_PACKETS * this.mss));
      return;
    }
    const target = this.targetCwnd(this.cwndGain);
    if (this.inRecovery) {
      // packet conservation: one for one for a round after a (queue-induced) loss
      this.cwnd = Math.max(this.cwnd, ack.bytesInFlight + ack.ackedBytes);
      if (this.filledPipe) this.cwnd = Math.min(this.cwnd, target);
    } else if (this.filledPipe) this.cwnd = Math.min(this.cwnd + ack.ackedBytes, target);
    else if (this.cwnd < target || ack.delivered < initialWindow(this.mss)) this.cwnd += ack.ackedBytes;
    if (this.cwnd > this.inflightHi) this.cwnd = this.inflightHi;
    this.cwnd = Math.max(this.cwnd, MIN_PIPE_PACKETS * this.mss);
  }

  onLoss(_now: number, loss: LossEvent): void {
    this.roundLost += loss.lostBytes;
    this.inflightAtLoss = Math.max(this.inflightAtLoss, loss.bytesInFlight + loss.lostBytes);
    if (loss.persistentCongestion) {
      this.priorCwnd = Math.max(this.priorCwnd, this.cwnd);
      this.cwnd = MIN_PIPE_PACKETS * this.mss;
      return;
    }
    // §4.2.3.4 packet conservation for one round, but only for loss that comes with a queue
    // (latest RTT 25% above RTprop): applied to random loss on a long path it would pin cwnd
    // to the current inflight every round and the bandwidth probe could never grow
    if (!this.inRecovery && this.lastRtt > 1.25 * this.rtProp) {
      this.inRecovery = true;
      this.recoveryRound = this.round;
      this.priorCwnd = this.mode === 'probe_rtt' ? Math.max(this.priorCwnd, this.cwnd) : this.cwnd;
      this.cwnd = Math.max(loss.bytesInFlight + this.mss, MIN_PIPE_PACKETS * this.mss);
    }
  }

  onMtuChange(mss: number): void {
    this.mss = mss;
    this.cwnd = Math.max(this.cwnd, MIN_PIPE_PACKETS * mss);
  }
}

export function bbr(options: CongestionControllerOptions): CongestionController {
  return new Bbr(options);
}
