/**
 * What the fate of a packet of ours means to the owners of what it carried: acknowledged (the
 * ACK tracker, the path's PMTU search, messages, streams), lost or probed by a PTO (its content
 * queued again by its owners, a PING when there is none, the PMTU rules), and a loss burst (one
 * log line at most per LOSS_LOG_INTERVAL_MS, the bursts in between counted).
 *
 * Plain functions over the connection itself (`FateHost`), which stays loss recovery's host
 * (`RecoveryHost`, no closures or object of its own per connection: idle heap, issue 19) and
 * calls these from its `RecoveryHost` methods. They run per acknowledged or lost packet and
 * allocate nothing but a 'pmtu' event or a log line.
 */
import type { AckTracker } from './ack-tracker.js';
import type { ConnectionConfig } from './config.js';
import type { EventQueue } from './events.js';
import type { ConnectionFlow } from './flow-control.js';
import type { LossRecovery } from './loss-recovery.js';
import type { Messages } from './messages.js';
import { CONNECTION_AT } from './numeric-slots.js';
import type { PacketBuilder } from './packet-builder.js';
import type { PathState } from './paths.js';
import { type SentFrame, SentKind, type SentPacket } from './sent-packet.js';
import type { Counters } from './stats.js';
import type { StreamSet } from './streams.js';

/** Loss bursts are logged at most once per this many ms (the bursts in between are counted). */
const LOSS_LOG_INTERVAL_MS = 1000;
/** the connection's numeric slot (numeric-slots.ts) of the time the last loss burst was logged */
export const LOSS_LOGGED_AT = CONNECTION_AT + 0;

/** The parts of a connection a packet's fate changes. */
export interface FateHost {
  readonly config: ConnectionConfig;
  readonly events: EventQueue;
  readonly counters: Counters;
  readonly acks: AckTracker;
  readonly flow: ConnectionFlow;
  readonly streams: StreamSet;
  readonly recovery: LossRecovery;
  readonly builder: PacketBuilder;
  /** the connection's numeric slots; LOSS_LOGGED_AT is this file's */
  readonly numbers: number[];
  /** loss bursts not logged since the last line */
  lossBurstsUnlogged: number;
  /** the queue of CONTROL (`control`) or application messages, created on first use */
  messageQueue(control: boolean): Messages;
}

/** `p` was acknowledged: tell the owners of what it carried. */
export function packetAcked(host: FateHost, now: number, p: SentPacket, path: PathState): void {
  if (p.ackLargest >= 0) host.acks.onAckAcked(p.ackLargest);
  const mtu = path.onAcked(now, p);
  if (mtu > 0) host.events.push({ type: 'pmtu', pmtu: mtu });
  const frames = p.frames;
  if (frames === null) return;
  for (let k = 0; k < frames.length; k++) {
    const fr = frames[k]!;
    if (fr.kind === SentKind.Message) host.messageQueue(fr.msg!.control).onFrameAcked(fr);
    else if (fr.kind === SentKind.Stream || fr.kind === SentKind.ResetStream) host.streams.onFrameAcked(fr);
  }
}

/** `p` was declared lost: PMTU rules, then its content is queued again. */
export function packetLost(host: FateHost, now: number, p: SentPacket, path: PathState): void {
  if (p.mtuProbe) {
    path.onProbeLost(now, p);
    // the connection's first probe carries MAX_DATA / MAX_STREAMS (packet-builder firstProbe)
    if (p.frames !== null) requeue(host, p.frames);
    return;
  }
  host.counters.packetsLost++;
  const mtu = path.onLost(now, p);
  if (mtu > 0) host.events.push({ type: 'pmtu', pmtu: mtu });
  if (p.frames !== null) requeue(host, p.frames);
}

/** A PTO fired: `frames` (the oldest unacknowledged data) queued again, or a PING when null. */
export function probeTimedOut(
  host: FateHost,
  now: number,
  frames: SentFrame[] | null,
  path: PathState,
): void {
  host.config.log?.(`PTO #${host.recovery.ptoCount} at ${now.toFixed(1)} ms`);
  if (frames !== null) requeue(host, frames);
  else host.builder.pingPending = true;
  const mtu = path.onPto(now, host.recovery.ptoCount);
  if (mtu > 0) host.events.push({ type: 'pmtu', pmtu: mtu });
}

/** A loss burst (or persistent congestion): logged, at most a line per LOSS_LOG_INTERVAL_MS. */
export function lossBurst(
  host: FateHost,
  now: number,
  packets: number,
  bytes: number,
  persistent: boolean,
  path: PathState,
): void {
  if (host.config.log === null) return;
  const numbers = host.numbers;
  if (!persistent && now < numbers[LOSS_LOGGED_AT]! + LOSS_LOG_INTERVAL_MS) {
    host.lossBurstsUnlogged++;
    return;
  }
  const more = host.lossBurstsUnlogged > 0 ? ` (+${host.lossBurstsUnlogged} bursts since the last line)` : '';
  numbers[LOSS_LOGGED_AT] = now;
  host.lossBurstsUnlogged = 0;
  host.config.log?.(
    `loss burst: ${packets} packets (${bytes} bytes) lost at once${persistent ? ', persistent congestion' : ''}${more}; cwnd ${path.cc.window()} bytes, srtt ${path.rtt.smoothed.toFixed(1)} ms, ${host.counters.packetsLost} lost in all`,
  );
}

/** Queues the content of a lost (or PTO-probed) packet for retransmission by its owners. */
function requeue(host: FateHost, frames: SentFrame[]): void {
  for (let k = 0; k < frames.length; k++) {
    const fr = frames[k]!;
    if (fr.kind === SentKind.Message) host.messageQueue(fr.msg!.control).onFrameLost(fr);
    else if (fr.kind === SentKind.MaxData) host.flow.maxDataPending = true;
    else host.streams.onFrameLost(fr);
  }
}
