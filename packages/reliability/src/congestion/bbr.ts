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
 * with both windowed filters: as fields, the ten or so that hold non-integers were a 16-byte heap
 * number each, and the filters two objects with an array each (an idle connection's heap,
 * issue 19). The methods index the array directly (`v[CWND]`): a getter and setter per slot was a
 * call per access until V8 optimised the code, and the inlined accessors then used up its inlining
 * budget for onAck (2.5% more instructions per packet over a connection's first 16,000 packets).
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
/** the BtlBw filter's slots (windowed-filter.ts), then the extra_acked filter's; a filter's first
 * slot is its best sample (maxFilterGet) */
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
    const v = this.v;
    // the slots not set here start at 0
    v[PACING_GAIN] = HIGH_GAIN;
    v[CWND_GAIN] = HIGH_GAIN;
    v[RT_PROP] = Number.POSITIVE_INFINITY;
    v[CYCLE_INDEX] = 2;
    v[PROBE_RTT_DONE_STAMP] = -1;
    v[INFLIGHT_HI] = Number.POSITIVE_INFINITY;
    v[ROUND_MIN_RTT] = Number.POSITIVE_INFINITY;
    v[MSS] = options.maxDatagramSize;
    v[CWND] = initialWindow(v[MSS]!);
    v[RT_PROP_STAMP] = options.now;
    // pacing rate before the first RTT sample: initial window over 1 ms-resolution 333 ms RTT
    v[PACING] = (HIGH_GAIN * v[CWND]!) / 333;
  }

  window(): number {
    return this.v[CWND]!;
  }

  pacingRate(): number {
    return this.v[PACING]!;
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
    const v = this.v;
    if (!this.filledPipe) return 0;
    return Math.min(v[EXTRA_ACKED]!, v[BTL_BW]! * EXTRA_ACKED_MAX_MS);
  }

  onPacketSent(_now: number, _bytes: number, bytesInFlight: number): void {
    if (bytesInFlight === 0) this.idleRestart = true;
  }

  private bdp(gain: number): number {
    const v = this.v;
    if (!Number.isFinite(v[RT_PROP]!) || v[BTL_BW]! === 0) return initialWindow(v[MSS]!);
    return gain * v[BTL_BW]! * v[RT_PROP]!;
  }

  private targetCwnd(gain: number): number {
    const v = this.v;
    // §4.2.3.2: BDP plus quanta for delayed/aggregated ACKs, plus the measured degree of ACK
    // aggregation (draft-cardwell-ccwg-bbr §4.6.4.2 BBRUpdateMaxInflight: inflight =
    // BDPMultiple(cwnd_gain) + extra_acked). v1's 2 x BDP only covers ACKs delayed by up to one
    // RTprop; when the receiver (or the sender's own event loop) handles datagrams in batches,
    // ACKs arrive a batch at a time, the RTT the data sees is several times RTprop on a short
    // path, and a 2 x BDP window runs dry between ACK bursts.
    const inflight = this.bdp(gain) + this.aggregationBudget();
    return Math.max(inflight + 3 * v[MSS]!, MIN_PIPE_PACKETS * v[MSS]!);
  }

  onAck(now: number, ack: AckEvent): void {
    const v = this.v;
    const rs = ack.rate;
    // round counting (§4.1.1.3)
    this.roundStart = false;
    if (rs.delivered > 0 && rs.priorDelivered >= v[NEXT_ROUND_DELIVERED]!) {
      v[NEXT_ROUND_DELIVERED] = ack.delivered;
      v[ROUND]!++;
      this.roundStart = true;
    }
    // BtlBw (§4.1.1.5): app-limited samples only count when they raise the estimate
    if (rs.delivered > 0 && rs.interval > 0) {
      const bw = rs.delivered / rs.interval;
      if (!rs.isAppLimited || bw >= v[BTL_BW]!) maxFilterUpdate(v, BTL_BW, bw, v[ROUND]!, BW_WINDOW_ROUNDS);
    }
    // RTprop (§4.1.2.3)
    this.rtPropExpired = now > v[RT_PROP_STAMP]! + RTPROP_WINDOW_MS;
    if (rs.rtt >= 0 && (rs.rtt <= v[RT_PROP]! || this.rtPropExpired)) {
      v[RT_PROP] = rs.rtt;
      v[RT_PROP_STAMP] = now;
    }
    this.updateAckAggregation(now, ack.ackedBytes);
    v[ROUND_ACKED]! += ack.ackedBytes;
    v[INFLIGHT_NOW] = ack.bytesInFlight + ack.ackedBytes;
    if (rs.rtt >= 0 && rs.rtt < v[ROUND_MIN_RTT]!) v[ROUND_MIN_RTT] = rs.rtt;
    if (rs.rtt >= 0) v[LAST_RTT] = rs.rtt;
    if (this.roundStart) this.checkLossRound();
    if (this.inRecovery && this.roundStart && v[ROUND]! > v[RECOVERY_ROUND]!) {
      this.inRecovery = false;
      v[CWND] = Math.max(v[CWND]!, v[PRIOR_CWND]!);
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
    const v = this.v;
    if (ackedBytes <= 0) return;
    let expected = v[BTL_BW]! * (now - v[EXTRA_ACKED_INTERVAL_START]!);
    if (v[EXTRA_ACKED_DELIVERED]! <= expected) {
      v[EXTRA_ACKED_DELIVERED] = 0;
      v[EXTRA_ACKED_INTERVAL_START] = now;
      expected = 0;
    }
    v[EXTRA_ACKED_DELIVERED]! += ackedBytes;
    const extra = Math.min(v[EXTRA_ACKED_DELIVERED]! - expected, v[CWND]!);
    maxFilterUpdate(v, EXTRA_ACKED, extra, v[ROUND]!, this.filledPipe ? EXTRA_ACKED_WINDOW_ROUNDS : 1);
  }

  /** Once per round: a lossy round (> 2%, at least 3 packets) ends Startup and sets inflight_hi. */
  private checkLossRound(): void {
    const v = this.v;
    const lost = v[ROUND_LOST]!;
    const total = lost + v[ROUND_ACKED]!;
    // only loss that comes with a standing queue (the round's minimum RTT 25% above RTprop)
    // counts: a full drop-tail buffer, not random loss on the path
    const queued = v[ROUND_MIN_RTT]! > 1.25 * v[RT_PROP]!;
    v[QUEUED_ROUNDS] = queued ? v[QUEUED_ROUNDS]! + 1 : 0;
    // the floor of both cuts is targetCwnd(1) = 1 BDP + the ACK-aggregation budget + 3 packets:
    // with aggregated ACKs every RTT sample carries the batching delay, so the rounds look
    // "queued" although the pipe is merely full, and a floor of 1 BDP would starve it
    if (queued && lost >= 3 * v[MSS]! && lost > LOSS_THRESHOLD * total) {
      if (!this.filledPipe) this.filledPipe = true;
      v[INFLIGHT_HI] = Math.max(0.85 * v[INFLIGHT_AT_LOSS]!, this.targetCwnd(1));
    } else if (this.mode === 'probe_bw' && v[QUEUED_ROUNDS]! >= STANDING_QUEUE_ROUNDS) {
      // a queue that never drains over several rounds: the flows together keep more than the
      // pipe in flight (BBRv1's 2 x BDP each); back off multiplicatively so they converge
      v[QUEUED_ROUNDS] = 0;
      v[INFLIGHT_HI] = Math.max(0.85 * v[INFLIGHT_NOW]!, this.targetCwnd(1));
    } else if (Number.isFinite(v[INFLIGHT_HI]!)) {
      // additive increase: with the multiplicative cut above this is AIMD, which makes
      // competing flows converge (BBRv2's loss response has the same shape)
      v[INFLIGHT_HI]! += v[MSS]!;
      if (v[INFLIGHT_HI]! > this.targetCwnd(2) * 1.5) v[INFLIGHT_HI] = Number.POSITIVE_INFINITY;
    }
    v[ROUND_LOST] = 0;
    v[ROUND_ACKED] = 0;
    v[INFLIGHT_AT_LOSS] = 0;
    v[ROUND_MIN_RTT] = Number.POSITIVE_INFINITY;
  }

  private checkFullPipe(appLimited: boolean): void {
    const v = this.v;
    if (this.filledPipe || !this.roundStart || appLimited) return;
    const bw = v[BTL_BW]!;
    if (bw >= v[FULL_BW]! * 1.25) {
      v[FULL_BW] = bw;
      v[FULL_BW_COUNT] = 0;
      return;
    }
    v[FULL_BW_COUNT]!++;
    if (v[FULL_BW_COUNT]! >= 3) this.filledPipe = true;
  }

  private checkDrain(inflight: number): void {
    const v = this.v;
    if (this.mode === 'startup' && this.filledPipe) {
      this.mode = 'drain';
      v[PACING_GAIN] = 1 / HIGH_GAIN;
      v[CWND_GAIN] = HIGH_GAIN;
    }
    if (this.mode === 'drain' && inflight <= this.bdp(1)) this.enterProbeBw(-1);
  }

  private enterProbeBw(now: number): void {
    const v = this.v;
    this.mode = 'probe_bw';
    v[CWND_GAIN] = 2;
    // start in a cruising phase (the draft picks a random phase other than 0.75)
    v[CYCLE_INDEX] = 2 + (v[ROUND]! % 6);
    v[PACING_GAIN] = PACING_GAINS[v[CYCLE_INDEX]!]!;
    v[CYCLE_STAMP] = now;
  }

  private updateCycle(now: number, inflight: number): void {
    const v = this.v;
    if (this.mode !== 'probe_bw') return;
    if (v[CYCLE_STAMP]! < 0) v[CYCLE_STAMP] = now;
    const elapsed = now - v[CYCLE_STAMP]! > v[RT_PROP]!;
    let advance = elapsed;
    if (v[PACING_GAIN]! > 1) advance = elapsed && inflight >= this.bdp(v[PACING_GAIN]!);
    else if (v[PACING_GAIN]! < 1) advance = elapsed || inflight <= this.bdp(1);
    if (v[PACING_GAIN]! > 1 && now - v[CYCLE_STAMP]! > 2 * v[RT_PROP]!) advance = true;
    if (advance) {
      v[CYCLE_INDEX] = (v[CYCLE_INDEX]! + 1) % PACING_GAINS.length;
      v[CYCLE_STAMP] = now;
      v[PACING_GAIN] = PACING_GAINS[v[CYCLE_INDEX]!]!;
    }
  }

  private checkProbeRtt(now: number, inflight: number): void {
    const v = this.v;
    if (this.mode !== 'probe_rtt' && this.rtPropExpired && !this.idleRestart) {
      this.mode = 'probe_rtt';
      v[PACING_GAIN] = 1;
      v[CWND_GAIN] = 1;
      v[PRIOR_CWND] = Math.max(v[PRIOR_CWND]!, v[CWND]!);
      v[PROBE_RTT_DONE_STAMP] = -1;
    }
    if (this.mode === 'probe_rtt') {
      if (v[PROBE_RTT_DONE_STAMP]! < 0 && inflight <= MIN_PIPE_PACKETS * v[MSS]!) {
        v[PROBE_RTT_DONE_STAMP] = now + PROBE_RTT_DURATION_MS;
        this.probeRttRoundDone = false;
        v[NEXT_ROUND_DELIVERED] = 0;
      } else if (v[PROBE_RTT_DONE_STAMP]! >= 0) {
        if (this.roundStart) this.probeRttRoundDone = true;
        if (this.probeRttRoundDone && now > v[PROBE_RTT_DONE_STAMP]!) {
          v[RT_PROP_STAMP] = now;
          v[CWND] = Math.max(v[CWND]!, v[PRIOR_CWND]!);
          v[PRIOR_CWND] = 0;
          if (this.filledPipe) this.enterProbeBw(now);
          else {
            this.mode = 'startup';
            v[PACING_GAIN] = HIGH_GAIN;
            v[CWND_GAIN] = HIGH_GAIN;
          }
        }
      }
    }
    this.idleRestart = false;
  }

  private setPacingRate(ack: AckEvent): void {
    const v = this.v;
    const bw = v[BTL_BW]!;
    if (bw === 0) {
      if (ack.rtt.hasSample) v[PACING] = (HIGH_GAIN * v[CWND]!) / Math.max(ack.rtt.smoothed, 1);
      return;
    }
    const rate = v[PACING_GAIN]! * bw;
    // §4.2.1: never lower the rate in Startup before the pipe is full
    if (this.filledPipe || rate > v[PACING]!) v[PACING] = rate;
  }

  private setCwnd(ack: AckEvent): void {
    const v = this.v;
    if (this.mode === 'probe_rtt') {
      v[CWND] = Math.max(MIN_PIPE_PACKETS * v[MSS]!, Math.min(v[CWND]!, MIN_PIPE_PACKETS * v[MSS]!));
      return;
    }
    const target = this.targetCwnd(v[CWND_GAIN]!);
    if (this.inRecovery) {
      // packet conservation: one for one for a round after a (queue-induced) loss
      v[CWND] = Math.max(v[CWND]!, ack.bytesInFlight + ack.ackedBytes);
      if (this.filledPipe) v[CWND] = Math.min(v[CWND]!, target);
    } else if (this.filledPipe) v[CWND] = Math.min(v[CWND]! + ack.ackedBytes, target);
    else if (v[CWND]! < target || ack.delivered < initialWindow(v[MSS]!)) v[CWND]! += ack.ackedBytes;
    if (v[CWND]! > v[INFLIGHT_HI]!) v[CWND] = v[INFLIGHT_HI]!;
    v[CWND] = Math.max(v[CWND]!, MIN_PIPE_PACKETS * v[MSS]!);
  }

  onLoss(_now: number, loss: LossEvent): void {
    const v = this.v;
    v[ROUND_LOST]! += loss.lostBytes;
    v[INFLIGHT_AT_LOSS] = Math.max(v[INFLIGHT_AT_LOSS]!, loss.bytesInFlight + loss.lostBytes);
    if (loss.persistentCongestion) {
      v[PRIOR_CWND] = Math.max(v[PRIOR_CWND]!, v[CWND]!);
      v[CWND] = MIN_PIPE_PACKETS * v[MSS]!;
      return;
    }
    // §4.2.3.4 packet conservation for one round, but only for loss that comes with a queue
    // (latest RTT 25% above RTprop): applied to random loss on a long path it would pin cwnd
    // to the current inflight every round and the bandwidth probe could never grow
    if (!this.inRecovery && v[LAST_RTT]! > 1.25 * v[RT_PROP]!) {
      this.inRecovery = true;
      v[RECOVERY_ROUND] = v[ROUND]!;
      v[PRIOR_CWND] = this.mode === 'probe_rtt' ? Math.max(v[PRIOR_CWND]!, v[CWND]!) : v[CWND]!;
      v[CWND] = Math.max(loss.bytesInFlight + v[MSS]!, MIN_PIPE_PACKETS * v[MSS]!);
    }
  }

  onMtuChange(mss: number): void {
    const v = this.v;
    v[MSS] = mss;
    v[CWND] = Math.max(v[CWND]!, MIN_PIPE_PACKETS * mss);
  }
}

export function bbr(options: CongestionControllerOptions): CongestionController {
  return new Bbr(options);
}
