/**
 * CUBIC, RFC 9438: window growth W_cubic(t) = C (t - K)^3 + W_max (§4.2) with C = 0.4 and
 * beta_cubic = 0.7 (§4.6), the Reno-friendly estimate W_est (§4.3), fast convergence (§4.7),
 * standard slow start below ssthresh and QUIC's recovery period (RFC 9002 §7.3.2, in
 * LossBasedController). Windows are kept in bytes; the cubic function works in segments of the
 * current datagram size.
 */
import type { AckEvent, CongestionController, CongestionControllerOptions } from './controller.js';
import { minimumWindow } from './controller.js';
import { LossBasedController } from './loss-based.js';

const C = 0.4;
const BETA = 0.7;
const ALPHA = (3 * (1 - BETA)) / (1 + BETA); // §4.3

export class Cubic extends LossBasedController {
  override readonly name = 'cubic';
  /** W_max and the previous one, in bytes */
  private wMax = 0;
  private wLastMax = 0;
  /** start of the current congestion-avoidance epoch (ms) or -1 */
  private epochStart = -1;
  private k = 0; // seconds
  private wEst = 0; // bytes

  protected override onAppLimited(): void {
    // §5.8: do not grow while application limited; restart the epoch so the idle time is
    // not counted as time spent growing
    this.epochStart = -1;
  }

  protected override avoidance(now: number, ack: AckEvent): void {
    const mss = this.mss;
    if (this.epochStart < 0) {
      this.epochStart = now;
      this.wEst = this.cwnd;
      if (this.wMax <= this.cwnd) {
        this.k = 0;
        this.wMax = this.cwnd;
      } else {
        this.k = Math.cbrt((this.wMax - this.cwnd) / mss / C);
      }
    }
    const rtt = ack.rtt.smoothed;
    const t = (now - this.epochStart + rtt) / 1000; // target one RTT ahead (§4.2)
    const wCubic = (C * (t - this.k) ** 3 * mss + this.wMax) | 0;
    // §4.3 Reno-friendly region
    this.wEst += (ALPHA * ack.ackedBytes * mss) / this.cwnd;
    if (wCubic < this.wEst) {
      this.cwnd = Math.max(this.cwnd, this.wEst);
      return;
    }
    const target = Math.min(Math.max(wCubic, this.cwnd), 1.5 * this.cwnd);
    this.cwnd += ((target - this.cwnd) * ack.ackedBytes) / this.cwnd;
  }

  protected override reduce(): void {
    // §4.7 fast convergence
    if (this.cwnd < this.wLastMax) this.wMax = (this.cwnd * (1 + BETA)) / 2;
    else this.wMax = this.cwnd;
    this.wLastMax = this.wMax;
    this.ssthresh = Math.max(this.cwnd * BETA, minimumWindow(this.mss));
    this.cwnd = this.ssthresh;
    this.epochStart = -1;
  }

  protected override onPersistentCongestion(): void {
    this.epochStart = -1;
    this.wMax = 0;
    this.wLastMax = 0;
  }
}

export function cubic(options: CongestionControllerOptions): CongestionController {
  return new Cubic(options);
}
