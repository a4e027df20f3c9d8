/**
 * What NewReno and CUBIC share (RFC 9002 §7): slow start below ssthresh, QUIC's recovery period
 * (one reduction per window of losses, starting at the send time of the newest lost packet,
 * §7.3.2), no growth while application limited (§7.8), persistent congestion collapsing the
 * window to kMinimumWindow (§7.6), no pacing rate of their own (the pacer derives one from the
 * window, §7.7). Subclasses supply the congestion-avoidance growth and the reduction.
 */
import {
  type AckEvent,
  type CongestionController,
  type CongestionControllerOptions,
  initialWindow,
  type LossEvent,
  minimumWindow,
} from './controller.js';

export abstract class LossBasedController implements CongestionController {
  abstract readonly name: string;
  protected mss: number;
  protected cwnd: number;
  protected ssthresh = Number.POSITIVE_INFINITY;
  private recoveryStart = Number.NEGATIVE_INFINITY;

  constructor(options: CongestionControllerOptions) {
    this.mss = options.maxDatagramSize;
    this.cwnd = initialWindow(this.mss);
  }

  window(): number {
    return this.cwnd;
  }

  pacingRate(): number {
    return 0;
  }

  inSlowStart(): boolean {
    return this.cwnd < this.ssthresh;
  }

  onPacketSent(): void {}

  onAck(now: number, ack: AckEvent): void {
    // §7.3.2: no increase for packets sent during recovery
    if (ack.largestAckedSentTime <= this.recoveryStart) return;
    if (ack.appLimited) {
      this.onAppLimited();
      return;
    }
    if (this.cwnd < this.ssthresh) {
      this.cwnd += ack.ackedBytes;
      return;
    }
    this.avoidance(now, ack);
  }

  onLoss(now: number, loss: LossEvent): void {
    if (loss.largestLostSentTime > this.recoveryStart) {
      this.recoveryStart = now;
      this.reduce();
    }
    if (loss.persistentCongestion) {
      this.cwnd = minimumWindow(this.mss);
      this.recoveryStart = now;
      this.onPersistentCongestion();
    }
  }

  onMtuChange(mss: number): void {
    this.mss = mss;
    this.cwnd = Math.max(this.cwnd, minimumWindow(mss));
  }

  /** Growth in congestion avoidance (cwnd ≥ ssthresh, outside recovery, not app limited). */
  protected abstract avoidance(now: number, ack: AckEvent): void;
  /** The multiplicative decrease at the start of a recovery period: sets ssthresh and cwnd. */
  protected abstract reduce(): void;
  /** Application limited: no growth (subclasses may reset their epoch). */
  protected onAppLimited(): void {}
  /** After the window collapsed to the minimum. */
  protected onPersistentCongestion(): void {}
}
