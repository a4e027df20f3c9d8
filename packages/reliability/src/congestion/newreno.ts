/**
 * NewReno as specified for QUIC, RFC 9002 §7 and Appendix B: slow start, congestion avoidance by
 * one datagram per window, a recovery period that starts at the send time of the newest lost
 * packet (one reduction per window of losses), kLossReductionFactor 0.5, persistent congestion
 * collapses the window to kMinimumWindow.
 */
import type { AckEvent, CongestionController, CongestionControllerOptions } from './controller.js';
import { minimumWindow } from './controller.js';
import { LossBasedController } from './loss-based.js';

export class NewReno extends LossBasedController {
  override readonly name = 'newreno';
  private bytesAckedInCa = 0;

  protected override avoidance(_now: number, ack: AckEvent): void {
    this.bytesAckedInCa += ack.ackedBytes;
    if (this.bytesAckedInCa >= this.cwnd) {
      this.bytesAckedInCa -= this.cwnd;
      this.cwnd += this.mss;
    }
  }

  protected override reduce(): void {
    this.ssthresh = Math.max(this.cwnd * 0.5, minimumWindow(this.mss));
    this.cwnd = this.ssthresh;
    this.bytesAckedInCa = 0;
  }
}

export function newReno(options: CongestionControllerOptions): CongestionController {
  return new NewReno(options);
}
