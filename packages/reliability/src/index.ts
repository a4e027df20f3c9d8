export { AckTracker } from './ack-tracker.js';
export type {
  CongestionChoice,
  CongestionName,
  ConnectionConfig,
  ReliableLimits,
  ReliableOptions,
  ResolvedReliableOptions,
} from './config.js';
export {
  CONGESTION_CONTROLLERS,
  congestionFactory,
  DEFAULT_LIMITS,
  PROTOCOL_INITIAL_MAX_DATA,
  PROTOCOL_INITIAL_MAX_STREAM_DATA,
  PROTOCOL_INITIAL_MAX_STREAMS,
  resolveConfig,
} from './config.js';
export { Bbr, bbr } from './congestion/bbr.js';
export type {
  AckEvent,
  CongestionController,
  CongestionControllerFactory,
  CongestionControllerOptions,
  LossEvent,
  RateSample,
} from './congestion/controller.js';
export { Cubic, cubic } from './congestion/cubic.js';
export { NewReno, newReno } from './congestion/newreno.js';
export { ReliableConnection } from './connection.js';
export type { ReliableErrorCode } from './error-codes.js';
export { APPLICATION_ERROR_BASE, ErrorCode, type ErrorCodeName, errorName } from './errors.js';
export type { ReceivedPacket, ReliableEvent } from './events.js';
export { RecvWindow, SendCredit } from './flow-control.js';
export { MESSAGE_CHARGE } from './message-queue.js';
export { Pacer } from './pacer.js';
export type { Transmit } from './packet-builder.js';
export { BLACK_HOLE_LOSSES, BLACK_HOLE_PTOS, type PathConfig, PathState } from './paths.js';
export { BASE_PLPMTU, Pmtud } from './pmtud.js';
export { RangeSet } from './range-set.js';
export { RecvBuffer, RecvSlab } from './recv-buffer.js';
export { INITIAL_RTT_MS, RttEstimator } from './rtt.js';
export { SendBuffer } from './send-buffer.js';
export type { ReliableState, ReliableStats } from './stats.js';
export { Timer, type TimerName } from './timers.js';
