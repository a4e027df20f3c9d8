/**
 * NewReno as specified for QUIC, RFC 9002 §7 and Appendix B: slow start, congestion avoidance by
 * one datagram per window, a recovery period that starts at the send time of the newest lost
 * packet (one reduction per window of losses), kLossReductionFactor 0.5, persistent congestion
 * collapses the window to kMinimumWindow.
 */
import {
  type AckEvent,
  type CongestionController,
  type CongestionControllerOptions,
  initialWindow,
  type LossEvent,
  minimumWindow,
} from './controller.js';

export class NewReno implements CongestionController {
  readonly name = 'newreno';
  private mss: number;
  private cwnd: number;
  private ssthresh = Number.POSITIVE_INFINITY;
  private recoveryStart = Number.NEGATIVE_INFINITY;
  private bytesAckedInCa = 0;

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

  onAck(_now: number, ack: AckEvent): void {
    // RFC 9002 §7.3.2: no increase for packets sent during recovery; §7.8: none when app limited
    if (ack.largestAckedSentTime <= this.recoveryStart) return;
    if (ack.appLimited) return;
    if (this.cwnd < this.ssthresh) {
      this.cwnd += ack.ackedBytes;
      return;
    }
    this.bytesAckedInCa += ack.ackedBytes;
    if (this.bytesAckedInCa >= this.cwnd) {
      this.bytesAckedInCa -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  onLoss(now: number, loss: LossEvent): void {
    if (loss.largestLostSentTime > this.recoveryStart) {
      this.recoveryStart = now;
      this.ssthresh = Math.max(this.cwnd * 0.5, minimumWindow(this.mss));
      this.cwnd = this.ssthresh;
      this.bytesAckedInCa = 0;
    }
    if (loss.persistentCongestion) {
      this.cwnd = minimumWindow(this.mss);
      this.recoveryStart = now;
    }
  }

  onMtuChange(mss: number): void {
    this.mss = mss;
    this.cwnd = Math.max(this.cwnd, minimumWindow(mss));
  }
}

export function newReno(options: CongestionControllerOptions): CongestionController {
  return new NewReno(options);
}
