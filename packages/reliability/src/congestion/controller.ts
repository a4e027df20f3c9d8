/**
 * The congestion controller interface. The connection owns loss detection, RTT and delivery-rate
 * sampling (draft-cheng-iccrg-delivery-rate-estimation); a controller only turns those signals
 * into a congestion window and, optionally, a pacing rate.
 */
import type { RttEstimator } from '../rtt.js';

/** Delivery-rate sample of one ACK (draft-cheng-iccrg-delivery-rate-estimation §3.3). */
export interface RateSample {
  /** bytes delivered between the send of the newest acked packet and now; 0 = no sample */
  delivered: number;
  /** interval in ms the sample covers (max of send and ack elapsed) */
  interval: number;
  /** the newest acked packet was sent while the sender was application limited */
  isAppLimited: boolean;
  /** total bytes delivered on the connection when that packet was sent (BBR round counting) */
  priorDelivered: number;
  /** RTT of the newest acked packet, ms (or -1) */
  rtt: number;
}

export interface AckEvent {
  /** bytes newly acknowledged by this ACK frame (in-flight packets only) */
  ackedBytes: number;
  /** send time of the largest newly acked packet */
  largestAckedSentTime: number;
  /** bytes in flight after removing the acked packets */
  bytesInFlight: number;
  /** total bytes delivered on the connection so far */
  delivered: number;
  rate: RateSample;
  rtt: RttEstimator;
  /** the sender could not fill the window before this ACK (RFC 9002 §7.8) */
  appLimited: boolean;
}

export interface LossEvent {
  lostBytes: number;
  /** send time of the newest lost packet; a loss of a packet sent before the current recovery
   * period started is not a new congestion event (RFC 9002 §7.3.2) */
  largestLostSentTime: number;
  /** RFC 9002 §7.6 */
  persistentCongestion: boolean;
  bytesInFlight: number;
  /** total bytes delivered on the connection so far */
  delivered: number;
}

export interface CongestionController {
  readonly name: string;
  /** Congestion window in bytes. */
  window(): number;
  /** Pacing rate in bytes per ms, or 0 to let the pacer derive it from window and RTT. */
  pacingRate(): number;
  onPacketSent(now: number, bytes: number, bytesInFlight: number): void;
  onAck(now: number, ack: AckEvent): void;
  onLoss(now: number, loss: LossEvent): void;
  /** Window-based controllers in slow start pace at twice the rate (optional). */
  inSlowStart?(): boolean;
  /** The datagram size changed (PMTU discovery); windows are kept in bytes, scaled by it. */
  onMtuChange(maxDatagramSize: number): void;
}

export interface CongestionControllerOptions {
  /** current maximum datagram size in bytes (payload + overhead) */
  maxDatagramSize: number;
  now: number;
}

export type CongestionControllerFactory = (options: CongestionControllerOptions) => CongestionController;

/** RFC 9002 §7.2: initial window of 10 datagrams bounded to [2, 14720 / mss] datagrams. */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(14720, 2 * mss));
}

/** RFC 9002 §7.2 kMinimumWindow. */
export function minimumWindow(mss: number): number {
  return 2 * mss;
}
