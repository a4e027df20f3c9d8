/**
 * The connection's timer dispatch and its close states (RFC 9000 §10): the deadlines copied from
 * their owners into the timer table, what each expiry does, and the transitions open → closing,
 * open → draining, closing → draining and closing/draining → closed (`close.ts` holds the closing
 * period's own numbers: its end and the CLOSE repeats).
 *
 * Plain functions over the connection itself (`ClosingHost`), like the receive path's: no object
 * of their own per connection. Nothing here runs per packet except `onPacketWhileClosing`, for a
 * packet that arrives while closing.
 */
import type { CloseFrame } from '@srmudp/wire';
import type { AckTracker } from './ack-tracker.js';
import { CloseState } from './close.js';
import type { ConnectionConfig } from './config.js';
import type { Datagrams } from './datagrams.js';
import { ErrorCode } from './errors.js';
import type { EventQueue } from './events.js';
import type { Liveness } from './liveness.js';
import type { LossRecovery } from './loss-recovery.js';
import type { PacketBuilder } from './packet-builder.js';
import type { PathState } from './paths.js';
import type { RecvSlab } from './recv-buffer.js';
import type { ReliableState } from './stats.js';
import type { StreamSet } from './streams.js';
import { Timer, type TimerTable } from './timers.js';

/** The parts of a connection its timers and its close change. */
export interface ClosingHost {
  /** the connection state; written only here and by nothing else */
  stateValue: ReliableState;
  readonly activePath: PathState;
  readonly config: ConnectionConfig;
  readonly events: EventQueue;
  readonly timers: TimerTable;
  readonly acks: AckTracker;
  readonly recovery: LossRecovery;
  readonly liveness: Liveness;
  readonly builder: PacketBuilder;
  readonly streams: StreamSet;
  readonly datagrams: Datagrams | null;
  /** created when the connection closes: an open one never reads it (idle heap, issue 19) */
  closeState: CloseState | null;
  /** the receive slab, if one was created (recv-buffer.ts) */
  readonly recvSlabValue: RecvSlab | null;
}

function closing(host: ClosingHost): CloseState {
  host.closeState ??= new CloseState();
  return host.closeState;
}

/** Copies every timer's deadline from its owner into the table (see timers.ts). */
export function refreshTimers(host: ClosingHost): void {
  const t = host.timers;
  const st = host.stateValue;
  if (st !== 'open') {
    t.stopAll();
    if (st !== 'closed') t.set(Timer.Close, closing(host).until);
    return;
  }
  const path = host.activePath;
  const acks = host.acks;
  const liveness = host.liveness;
  t.set(Timer.Ack, acks.pending ? acks.deadline : Number.POSITIVE_INFINITY);
  t.set(Timer.LossDetection, host.recovery.timer(path));
  t.set(Timer.Idle, liveness.idleDeadline(path.pto(host.config.maxAckDelay)));
  t.set(Timer.KeepAlive, liveness.keepaliveDeadline());
  t.set(Timer.RttProbe, liveness.rttProbeDeadline());
  t.set(Timer.PmtuSearch, path.searchAt);
  // pacing matters only when data waits for the pacer alone
  const paced =
    path.pacingAt !== Number.POSITIVE_INFINITY &&
    host.builder.hasElicitingWork() &&
    host.recovery.bytesInFlight + path.pmtud.current <= path.cc.window();
  t.set(Timer.Pacing, paced ? path.pacingAt : Number.POSITIVE_INFINITY);
  t.stop(Timer.Close);
}

/** `ReliableConnection.handleTimeout` without the timer re-arming: each expired timer's action. */
export function onTimeout(host: ClosingHost, now: number): void {
  const st = host.stateValue;
  if (st === 'closed') return;
  refreshTimers(host);
  const t = host.timers;
  if (st === 'closing' || st === 'draining') {
    if (t.expired(Timer.Close, now)) host.stateValue = 'closed';
    return;
  }
  if (t.expired(Timer.Idle, now)) {
    // RFC 9000 §10.1: silently closed
    host.config.log?.('idle timeout');
    host.stateValue = 'closed';
    releaseAll(host);
    host.events.push({
      type: 'closed',
      code: ErrorCode.IDLE_TIMEOUT,
      reason: 'idle timeout',
      remote: false,
      error: 'IDLE_TIMEOUT',
    });
    return;
  }
  // a receive slab no buffer uses goes once the connection is quiet (an idle connection holds
  // none; recv-buffer.ts)
  host.recvSlabValue?.onTimers(t.expired(Timer.KeepAlive, now));
  if (t.expired(Timer.LossDetection, now)) host.recovery.onTimeout(now, host.activePath);
  if (t.expired(Timer.KeepAlive, now)) host.builder.pingPending = true;
  if (t.expired(Timer.RttProbe, now)) sendRttProbe(host, now);
  // Ack, PmtuSearch and Pacing need no action here: the next pollTransmit(now) does their work
}

/** An RTT warm-up PING leaves with the next packet (liveness.ts). */
export function sendRttProbe(host: ClosingHost, now: number): void {
  host.builder.pingPending = true;
  // the last warm-up PING's sample is the last provisional one: the packet that carries it marks
  // the end when it leaves (packet-builder.ts). Not `now`: a driver sends on a later turn than the
  // one that received the peer's PING, and a sample of a packet sent after the end is ordinary
  // (the demo's idle mesh then kept ~25 ms handshake-time estimates on loopback)
  if (host.liveness.onRttProbe(now)) host.builder.warmupEnds = true;
}

/** We close with `code` (RFC 9000 §10.2.1): open → closing, CLOSE is owed. */
export function enterClosing(
  host: ClosingHost,
  code: number,
  reason: string,
  error: string | null,
  now: number,
): void {
  host.config.log?.(`closing: code ${code}${error === null ? '' : ` (${error})`} ${reason}`);
  host.stateValue = 'closing';
  const r = closing(host).enterClosing(code, reason, now, host.activePath.pto(host.config.maxAckDelay));
  releaseAll(host);
  host.events.push({ type: 'closed', code, reason: r, remote: false, error });
}

/** The peer's CLOSE while open (RFC 9000 §10.2.2): open → draining for 3 PTO. */
export function enterDraining(host: ClosingHost, now: number, code: number, reason: string): void {
  host.stateValue = 'draining';
  closing(host).enterDraining(now, host.activePath.pto(host.config.maxAckDelay));
  releaseAll(host);
  host.events.push({ type: 'closed', code, reason, remote: true, error: null });
}

/**
 * A packet while closing: with the peer's CLOSE, closing → draining (the closing period's end
 * stays); otherwise our CLOSE is owed again, at most once per smoothed RTT (RFC 9000 §10.2.1).
 */
export function onPacketWhileClosing(host: ClosingHost, now: number, peerClosed: boolean): void {
  if (peerClosed) host.stateValue = 'draining';
  else closing(host).onPacketWhileClosing(now, host.activePath.rtt.smoothed);
}

/** The CLOSE frame owed at `now` while closing, or null when none is. */
export function pollClose(host: ClosingHost, now: number): CloseFrame | null {
  return closing(host).poll(now);
}

function releaseAll(host: ClosingHost): void {
  host.streams.releaseAll();
  host.datagrams?.releaseAll();
  host.recvSlabValue?.forget();
}
