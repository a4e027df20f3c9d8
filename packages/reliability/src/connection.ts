/**
 * The sans-IO reliability state machine of one connection, as a coordinator: it owns the public
 * API and the send side (what leaves). The rules live in their own files:
 *
 * - `receive.ts`: a received packet decoded into state changes, each frame to its owner
 * - `packet-fate.ts`: what an acknowledged, lost or PTO-probed packet of ours means to the owners
 *   of what it carried; loss-burst log lines
 * - `closing.ts`: timer dispatch, the connection state (open, closing, draining, closed: RFC 9000
 *   §10) and its transitions
 * - `streams.ts`: stream lifecycle, stream flow control, stream frames
 * - `messages.ts`, `datagrams.ts`: messages; datagrams and core's frames
 * - `loss-recovery.ts`: sent-packet ledger, ACK processing, loss detection, PTO
 * - `delivery-rate.ts`: delivery-rate samples for the congestion controller
 * - `packet-builder.ts`: what a packet carries and when it may leave
 * - `paths.ts`: per-path RTT, congestion controller, pacer, PMTU discovery
 * - `liveness.ts`: idle timeout and keepalive
 * - `timers.ts`: the named timer table behind `pollTimeout()`
 * - `close.ts`: the closing and draining periods
 * - `config.ts`: options, defaults and their validation
 *
 * Why ~560 lines: it is the public API of a connection (about 40 documented methods: streams,
 * messages, datagrams, paths, sans-IO I/O, close) plus the state transitions; every rule behind
 * them is in the files above, and the API stays one class so a reader finds every entry point in
 * one place.
 */
import { type Frame, PollQueue } from '@srmudp/wire';
import { AckTracker } from './ack-tracker.js';
import type { CloseState } from './close.js';
import { type ClosingHost, enterClosing, onTimeout, pollClose, refreshTimers } from './closing.js';
import {
  type ConnectionConfig,
  configOf,
  PROTOCOL_INITIAL_MAX_DATA,
  type ReliableLimits,
  type ReliableOptions,
  type ResolvedReliableOptions,
} from './config.js';
import type { CongestionController } from './congestion/controller.js';
import { Datagrams } from './datagrams.js';
import { DeliveryRateSampler } from './delivery-rate.js';
import { ReliableError } from './error-codes.js';
import type { ReceivedPacket, ReliableEvent } from './events.js';
import { ConnectionFlow } from './flow-control.js';
import { Liveness } from './liveness.js';
import { LossRecovery, type RecoveryHost } from './loss-recovery.js';
import { Messages } from './messages.js';
import { CONNECTION_SLOTS, numericSlots } from './numeric-slots.js';
import { PacketBuilder, type PacketSources, type Transmit } from './packet-builder.js';
import { LOSS_LOGGED_AT, lossBurst, packetAcked, packetLost, probeTimedOut } from './packet-fate.js';
import { PathState } from './paths.js';
import { BASE_PLPMTU } from './pmtud.js';
import { type ReceiveHost, receivePacket } from './receive.js';
import { RecvSlab } from './recv-buffer.js';
import type { SentFrame, SentPacket } from './sent-packet.js';
import { Counters, type ReliableState, type ReliableStats, snapshot } from './stats.js';
import { StreamSet } from './streams.js';
import { type TimerName, TimerTable } from './timers.js';

/**
 * One connection: streams, messages, datagrams, ACKs, loss recovery (RFC 9002), congestion
 * control, pacing, flow control (RFC 9000 §4), PMTU discovery (RFC 8899), keepalive, idle
 * timeout and close. Inputs carry `now` (monotonic ms); outputs are drained with
 * `pollTransmit`, `pollTimeout` and `pollEvent`. Nothing here throws on peer input: a protocol
 * violation closes the connection with a code.
 */
export class ReliableConnection implements RecoveryHost, PacketSources, ReceiveHost, ClosingHost {
  readonly limits: Readonly<ReliableLimits>;
  /** @internal PacketSources */ readonly config: ConnectionConfig;
  /** @internal ClosingHost */ stateValue: ReliableState = 'open';
  /** the active path; `resetPath` replaces it */
  private path: PathState;
  /** @internal PacketSources */ readonly counters = new Counters();
  /** @internal ReceiveHost */ readonly events = new PollQueue<ReliableEvent>();
  /** @internal FateHost: the numbers of the parts below that change with time (numeric-slots.ts) */
  readonly numbers = numericSlots(CONNECTION_SLOTS);
  /** @internal ClosingHost */ readonly timers = new TimerTable(this.numbers);
  /** @internal PacketSources */ readonly acks: AckTracker;
  /** @internal PacketSources */ readonly flow: ConnectionFlow;
  /** the receive slab (see `recvSlab`), created with the first stream or message: none on a
   * connection that never had one (idle heap, issue 19) */
  /** @internal ClosingHost */ recvSlabValue: RecvSlab | null = null;
  /** @internal PacketSources */ readonly streams: StreamSet;
  /** @internal PacketSources */ readonly rate = new DeliveryRateSampler(this.numbers);
  /** @internal PacketSources */ readonly recovery: LossRecovery;
  /** @internal PacketSources */ readonly liveness: Liveness;
  /** @internal ClosingHost */ readonly builder: PacketBuilder;
  // The connection is what its packets are built from (PacketSources): no object of its own that
  // repeats the fields above (~110 bytes of an idle connection's heap, issue 19). The message and
  // datagram queues are created on first use (most connections never send or receive a message
  // or datagram: ~150 bytes each).
  /** @internal PacketSources */ messages: Messages | null = null;
  /** @internal PacketSources */ control: Messages | null = null;
  /** @internal PacketSources */ datagrams: Datagrams | null = null;

  /** created when the connection closes: an open one never reads it (idle heap, issue 19) */
  /** @internal ClosingHost */ closeState: CloseState | null = null;
  /** @internal FateHost: loss bursts not logged since the last line */ lossBurstsUnlogged = 0;

  /**
   * `options`, or a configuration `resolveConfig` made and the time: the latter validates and
   * copies nothing (one resolved configuration for many connections).
   */
  constructor(options: ReliableOptions | ResolvedReliableOptions) {
    const config = configOf(options);
    const now = options.now;
    const limits = config.limits;
    this.config = config;
    this.limits = limits;
    this.path = new PathState(config, now);
    this.acks = new AckTracker(config.maxAckDelay, this.numbers);
    this.flow = new ConnectionFlow(
      PROTOCOL_INITIAL_MAX_DATA,
      limits.connectionReceiveWindow,
      limits.maxConnectionReceiveWindow,
    );
    this.streams = new StreamSet(config.role, limits, this.flow, this.events, this.counters, this);
    // the connection is loss recovery's host itself: no closures per connection (idle heap)
    this.recovery = new LossRecovery(config.maxAckDelay, this.rate, this.counters, this, this.numbers);
    this.liveness = new Liveness(
      config.idleTimeoutMs,
      config.keepaliveMs,
      now,
      config.rttProbes,
      this.numbers,
      config.rttProbeAnswer,
    );
    this.numbers[LOSS_LOGGED_AT] = Number.NEGATIVE_INFINITY;
    // samples stay provisional until the last warm-up PING leaves (rtt.ts, liveness.ts)
    if (this.liveness.warmingUp) this.path.rtt.provisionalUntil = Number.POSITIVE_INFINITY;
    this.builder = new PacketBuilder(this);
    this.path.armTimers(now);
  }

  // ------------------------------------------------------------------ public API: state

  get state(): ReliableState {
    return this.stateValue;
  }

  /** Current PLPMTU in bytes of UDP payload. */
  get pmtu(): number {
    return this.path.pmtud.current;
  }

  /** Largest frame payload one packet can carry now. */
  maxPayload(): number {
    return this.path.pmtud.current - this.config.overhead;
  }

  get congestionController(): CongestionController {
    return this.path.cc;
  }

  // ------------------------------------------------------------------ public API: streams

  /** True when `openStream` would succeed (the peer's MAX_STREAMS allows another). */
  canOpenStream(): boolean {
    return this.stateValue === 'open' && this.streams.canOpen();
  }

  /** Opens a stream; throws SrmudpError STREAM_LIMIT when the peer's MAX_STREAMS is used up. */
  openStream(): number {
    this.checkOpen();
    return this.streams.open();
  }

  /** Queues bytes on a stream; returns how many were accepted (0 when the buffers are full). */
  write(id: number, data: Uint8Array): number {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    this.checkOpen();
    return this.streams.write(id, data);
  }

  /** Bytes `write` would accept on this stream now. */
  writable(id: number): number {
    return this.streams.writable(id);
  }

  /** Half-closes our side: a FIN follows the written bytes. */
  finish(id: number): void {
    this.streams.finish(id);
  }

  /**
   * Reads up to `max` bytes in order; null when none are available now. The bytes return flow
   * control credit, and `now` decides whether the window grows (it was consumed quickly).
   */
  read(now: number, id: number, max = Number.MAX_SAFE_INTEGER): Uint8Array | null {
    checkNow(now);
    return this.streams.read(now, id, max, this.path.rtt.smoothed);
  }

  /** Resets our sending side (RESET_STREAM with `code`): unsent and unacknowledged data is dropped. */
  reset(id: number, code: number): void {
    checkCode(code);
    this.streams.reset(id, code);
  }

  /**
   * Asks the peer to stop sending (STOP_SENDING); incoming data on the stream is discarded and
   * its flow-control credit returned at `now`.
   */
  stopSending(now: number, id: number, code: number): void {
    checkNow(now);
    checkCode(code);
    this.streams.stopSending(now, id, code, this.path.rtt.smoothed);
  }

  /**
   * Bytes (and pending control frames, counted as 1 each) not yet sent or not yet acknowledged:
   * stream and message data, FINs, resets, queued datagrams and core frames. 0 together with
   * `stats().bytesInFlight === 0` means everything we were asked to send has been delivered (a
   * graceful close can proceed).
   */
  sendBacklog(): number {
    let n = this.flow.buffered + (this.datagrams?.backlog() ?? 0);
    if (this.flow.maxDataPending || this.streams.maxStreamsPending || this.builder.pingPending) n++;
    return n + this.streams.backlog();
  }

  /**
   * True when the peer's FIN on stream `id` arrived and every byte before it is buffered or
   * already read (nothing more can arrive); false for an unknown stream, or one reset by the
   * peer or stopped by us. Unlike the 'stream_finished' event, it does not wait for the
   * application to read the bytes.
   */
  recvComplete(id: number): boolean {
    return this.streams.recvComplete(id);
  }

  /**
   * Feeds a round trip measured outside reliability (the handshake) as the first RTT sample, so
   * `stats().rttMs` and the PTO are real from the start (RFC 9002 §5.1 takes samples from the
   * handshake too). Ignored once an ACK gave a sample, or when `sampleMs` is not a finite
   * number >= 0 (a bad clock must not poison the estimator).
   */
  seedRtt(sampleMs: number): void {
    const rtt = this.path.rtt;
    if (rtt.hasSample || !(sampleMs >= 0) || !Number.isFinite(sampleMs)) return;
    rtt.update(sampleMs, 0);
  }

  /** Ids of streams currently open. */
  streamIds(): number[] {
    return this.streams.ids();
  }

  // ------------------------------------------------------------------ public API: messages, datagrams

  /**
   * Queues a message (delivered whole, ordered unless `unordered`). Returns false when the send
   * buffer is full (a 'message_writable' event follows); throws RangeError above maxMessageSize.
   */
  sendMessage(data: Uint8Array, options: { unordered?: boolean } = {}): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    if (data.length > this.limits.maxMessageSize) {
      throw new RangeError(
        `message of ${data.length} bytes exceeds maxMessageSize ${this.limits.maxMessageSize}`,
      );
    }
    this.checkOpen();
    return this.messageQueue(false).send(data, options.unordered === true);
  }

  /**
   * Queues a CONTROL message (frame 0x1d): reliable, ordered, in its own id space, delivered to
   * the peer's core as a 'control' event, never to its application. It shares the connection's
   * flow control and send buffer with messages; false when that buffer is full.
   */
  sendControl(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    if (data.length > this.limits.maxMessageSize) {
      throw new RangeError(`control message of ${data.length} bytes exceeds maxMessageSize`);
    }
    if (this.stateValue !== 'open') return false;
    return this.messageQueue(true).send(data, false);
  }

  /** Sends an unreliable datagram; false when it is too big for one packet or the queue is full. */
  sendDatagram(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    if (this.stateValue !== 'open') return false;
    return this.datagramQueue().send(data, this.maxPayload());
  }

  /** Largest datagram `sendDatagram` accepts now. */
  maxDatagramSize(): number {
    const room = this.maxPayload() - 1;
    return room - (room > 16383 ? 4 : room > 63 ? 2 : 1);
  }

  /**
   * Asks for an ack-eliciting PING in the next packet, tracked like any in-flight packet (its ACK
   * is an RTT sample; a loss is covered by the probe timeout). Core uses it when a connection is
   * established (key confirmation) and on a path it just moved to, so the first RTT sample comes
   * within a round trip. Ignored unless the connection is open.
   */
  ping(): void {
    if (this.stateValue === 'open') this.builder.pingPending = true;
  }

  /**
   * Queues a frame owned by core (path_challenge, path_response, relay, ping): sent once, with
   * priority, not retransmitted. False when it cannot fit a packet or the queue is full.
   */
  queueFrame(frame: Frame): boolean {
    if (this.stateValue !== 'open') return false;
    const t = frame.type;
    if (t !== 'path_challenge' && t !== 'path_response' && t !== 'relay' && t !== 'ping') {
      throw new TypeError(`queueFrame accepts path_challenge, path_response, relay or ping, got ${t}`);
    }
    return this.datagramQueue().queueFrame(frame, this.maxPayload());
  }

  /**
   * Closes with `code` (0 = no error) and a reason at `now`: CLOSE is sent, and the connection
   * stays closing for 3 PTO from `now` (RFC 9000 §10.2) before it is closed.
   */
  close(now: number, code = 0, reason = ''): void {
    checkNow(now);
    checkCode(code);
    if (this.stateValue !== 'open') return;
    enterClosing(this, code, reason, null, now);
  }

  /**
   * The path changed (migration to a new address, RFC 9000 §9.4): RTT, congestion state and
   * PMTU restart from their initial values; streams and outstanding data are kept. The same as
   * `setActivePath(createPath(now), now)`.
   */
  resetPath(now: number): void {
    this.setActivePath(this.createPath(now), now);
  }

  // ------------------------------------------------------------------ public API: paths

  /** The path packets are sent on: its RTT, congestion controller, pacer and PMTU. */
  get activePath(): PathState {
    return this.path;
  }

  /**
   * A fresh path state with this connection's configuration (RFC 9000 §9.4: a new path starts
   * from the initial RTT, a new congestion controller and the base PMTU). `maxUdpPayload` is the
   * path's PMTU search ceiling (1472 for IPv4, 1452 for IPv6; default the connection's).
   */
  createPath(now: number, options: { maxUdpPayload?: number } = {}): PathState {
    checkNow(now);
    const max = options.maxUdpPayload;
    if (max === undefined) return new PathState(this.config, now);
    if (!Number.isSafeInteger(max) || max < BASE_PLPMTU || max > 65527) {
      throw new RangeError(`"maxUdpPayload" expected an integer in [${BASE_PLPMTU}, 65527]`);
    }
    return new PathState({ ...this.config, maxUdpPayload: max }, now);
  }

  /**
   * Sends on `path` from now on (a migration, an upgrade, a fallback): streams, messages, packet
   * numbers and bytes in flight carry on; the probe-timeout backoff restarts (it measured the
   * old path). A path used before keeps the state it had (RFC 9000 §9.4 allows that for a path
   * recently used); pass a fresh `createPath` for a new one.
   */
  setActivePath(path: PathState, now: number): void {
    checkNow(now);
    if (path === this.path) return;
    // a warm-up's provisional samples belong to the path it started on (rtt.ts)
    const old = this.path.rtt;
    if (old.provisionalUntil === Number.POSITIVE_INFINITY) old.provisionalUntil = now;
    this.path = path;
    this.recovery.onPathReset();
    this.path.armTimers(now);
  }

  /** RFC 9002 §6.2.1 probe timeout of the active path, without backoff. */
  pto(): number {
    return this.path.pto(this.config.maxAckDelay);
  }

  /** Consecutive probe timeouts since the last acknowledgement (0 when the path answers). */
  get ptoCount(): number {
    return this.recovery.ptoCount;
  }

  /**
   * A packet carrying only path-probing frames (PATH_CHALLENGE, PATH_RESPONSE: RFC 9000 §9.1) for
   * `path`, which is not the active one (a candidate being validated, or the path a challenge
   * arrived on). It takes the next packet number of the one number space, but it is not in
   * flight: no path's congestion controller or pacer counts it, and its loss repairs nothing
   * (the sender of a challenge retries on its own timer). Null when the connection is not open
   * or the packet would exceed `maxDatagramSize` (anti-amplification).
   */
  buildProbe(
    now: number,
    path: PathState,
    frames: readonly Frame[],
    maxDatagramSize: number,
  ): Transmit | null {
    checkNow(now);
    if (this.stateValue !== 'open') return null;
    for (const f of frames) {
      if (f.type !== 'path_challenge' && f.type !== 'path_response') {
        throw new TypeError(`buildProbe accepts path_challenge and path_response frames, got ${f.type}`);
      }
    }
    return this.builder.buildProbe(now, frames, path, maxDatagramSize);
  }

  // ------------------------------------------------------------------ public API: sans-IO

  /**
   * Processes one received packet (its decrypted frames). Never throws on peer input. Returns
   * what the packet was: `'probing'` when it carried only PATH_CHALLENGE, PATH_RESPONSE and
   * PADDING (RFC 9000 §9.1: such a packet from a new address is no migration), `'non_probing'`
   * for anything else accepted, `'dropped'` for a duplicate, an undecodable packet or one that
   * arrived after close.
   */
  handlePacket(now: number, packetNumber: number, payload: Uint8Array): ReceivedPacket {
    const kind = receivePacket(this, now, packetNumber, payload);
    this.path.armTimers(now);
    return kind;
  }

  /**
   * Next datagram payload to seal and send, or null. `maxDatagramSize` caps this one datagram
   * (payload + overhead), e.g. core's anti-amplification budget before address validation:
   * when the current PMTU does not fit nothing is sent, and a PMTU probe is sent only if it fits.
   */
  pollTransmit(now: number, maxDatagramSize = Number.POSITIVE_INFINITY): Transmit | null {
    const t = this.transmit(now, maxDatagramSize);
    this.path.armTimers(now);
    return t;
  }

  /** Absolute time (ms) of the next timer, or null: the earliest entry of the timer table. */
  pollTimeout(): number | null {
    refreshTimers(this);
    return this.timers.next();
  }

  /** The timers behind `pollTimeout()`, by name, earliest first (for logs and tests). */
  armedTimers(): { timer: TimerName; at: number }[] {
    refreshTimers(this);
    return this.timers.armed();
  }

  /** Call when the time returned by `pollTimeout` has come. */
  handleTimeout(now: number): void {
    onTimeout(this, now);
    this.path.armTimers(now);
  }

  /**
   * Next event, or null. Taking a message returns its flow-control credit, and `now` decides
   * whether the connection window grows.
   */
  pollEvent(now: number): ReliableEvent | null {
    checkNow(now);
    const ev = this.events.take();
    if (ev === null) return null;
    if (ev.type === 'message') {
      this.messageQueue(false).onTaken(ev.data, now, this.path.rtt.smoothed);
    } else if (ev.type === 'control') {
      this.messageQueue(true).onTaken(ev.data, now, this.path.rtt.smoothed);
    } else if (ev.type === 'datagram') this.datagramQueue().onTaken(ev.data);
    return ev;
  }

  stats(): ReliableStats {
    return snapshot(this.stateValue, this.path, this.recovery, this.counters, this.streams.size);
  }

  // ------------------------------------------------------------------ loss recovery's host (packet-fate.ts)
  // (the connection is packet-fate.ts's FateHost too, checked where `this` is passed)

  /** @internal RecoveryHost */
  onPacketAcked(now: number, p: SentPacket, path: PathState): void {
    packetAcked(this, now, p, path);
  }

  /** @internal RecoveryHost */
  onPacketLost(now: number, p: SentPacket, path: PathState): void {
    packetLost(this, now, p, path);
  }

  /** @internal RecoveryHost */
  onProbeTimeout(now: number, frames: SentFrame[] | null, path: PathState): void {
    probeTimedOut(this, now, frames, path);
  }

  /** @internal RecoveryHost */
  onLossBurst(now: number, packets: number, bytes: number, persistent: boolean, path: PathState): void {
    lossBurst(this, now, packets, bytes, persistent, path);
  }

  // ------------------------------------------------------------------ sending

  private transmit(now: number, maxDatagramSize: number): Transmit | null {
    if (maxDatagramSize < this.path.pmtud.current) return null;
    const st = this.stateValue;
    if (st === 'closed' || st === 'draining') return null;
    if (st === 'closing') {
      const close = pollClose(this, now);
      return close === null ? null : this.builder.buildClose(now, close, this.path);
    }
    return this.builder.build(now, maxDatagramSize, this.path);
  }

  // ------------------------------------------------------------------ helpers

  /** @internal room in the send budget may have opened (StreamSet's host): streams first, then messages */
  notifyWritable(): void {
    this.streams.notifyWaiters();
    this.messages?.notifyWritable(); // none yet: no send ever waited
  }

  /**
   * @internal The receive slab every stream and message buffer of this connection copies small
   * frames into (recv-buffer.ts): never shared with another connection; it holds no memory while
   * the connection is idle (StreamSet's host).
   */
  recvSlab(): RecvSlab {
    this.recvSlabValue ??= new RecvSlab();
    return this.recvSlabValue;
  }

  /** The queue of datagrams and core frames, created on first use. */
  /** @internal ReceiveHost */
  datagramQueue(): Datagrams {
    return (this.datagrams ??= new Datagrams(this.limits, this.events, this.counters));
  }

  /** The queue of CONTROL (`control`) or application messages, created on first use. */
  /** @internal ReceiveHost */
  messageQueue(control: boolean): Messages {
    const q = control ? this.control : this.messages;
    if (q !== null) return q;
    const m = new Messages(this.limits, this.flow, this.events, this.counters, this.recvSlab(), control);
    if (control) this.control = m;
    else this.messages = m;
    return m;
  }

  private checkOpen(): void {
    if (this.stateValue !== 'open') throw new ReliableError('CLOSED', 'connection is closed');
  }
}

function checkCode(code: number): void {
  if (!Number.isSafeInteger(code) || code < 0)
    throw new RangeError(`"code" expected a non-negative integer, got ${code}`);
}

function checkNow(now: number): void {
  if (typeof now !== 'number' || !Number.isFinite(now))
    throw new TypeError(`"now" expected a finite number, got ${String(now)}`);
}
