import {
  type AckFrame,
  DATA_OVERHEAD,
  decodeFrames,
  encodeFrame,
  type Frame,
  frameSize,
  type MessageFrame,
  messageFrameOverhead,
  SrmudpError,
  type StreamFrame,
  sharedSlab,
  streamFrameOverhead,
} from '@srmudp/wire';
import { AckTracker } from './ack-tracker.js';
import { bbr } from './congestion/bbr.js';
import type {
  CongestionController,
  CongestionControllerFactory,
  RateSample,
} from './congestion/controller.js';
import { cubic } from './congestion/cubic.js';
import { newReno } from './congestion/newreno.js';
import { ErrorCode, errorName } from './errors.js';
import type { ConnectionEvent } from './events.js';
import { RecvWindow, SendCredit } from './flow-control.js';
import { InMessage, MESSAGE_CHARGE, MessageReassembly, OutMessage } from './message-queue.js';
import { Pacer } from './pacer.js';
import { BASE_PLPMTU, Pmtud } from './pmtud.js';
import { RttEstimator } from './rtt.js';
import { SentFrame, SentKind, SentPacket } from './sent-packet.js';
import { Stream } from './stream.js';

/**
 * Flow-control values both ends assume before any MAX_* frame arrived (there is no transport
 * parameter exchange): each end announces its real, larger, windows in its first packets.
 */
export const PROTOCOL_INITIAL_MAX_DATA = 64 * 1024;
export const PROTOCOL_INITIAL_MAX_STREAM_DATA = 64 * 1024;
export const PROTOCOL_INITIAL_MAX_STREAMS = 16;

export interface ConnectionLimits {
  /** concurrent streams the peer may open (MAX_STREAMS credit), default 100 */
  maxStreams: number;
  /** initial / largest per-stream receive window, default 256 KiB / 16 MiB */
  streamReceiveWindow: number;
  maxStreamReceiveWindow: number;
  /** initial / largest connection receive window, default 1 MiB / 32 MiB */
  connectionReceiveWindow: number;
  maxConnectionReceiveWindow: number;
  /** bytes one stream buffers unacknowledged (write backpressure), default 4 MiB */
  streamSendBuffer: number;
  /** bytes all streams and messages buffer together, default 16 MiB */
  sendBuffer: number;
  /** largest message sent or accepted, default 16 MiB */
  maxMessageSize: number;
  /** bytes of datagrams waiting to be sent, default 256 KiB */
  datagramSendQueue: number;
  /** bytes of received datagrams waiting in pollEvent, default 1 MiB */
  datagramReceiveQueue: number;
}

export const DEFAULT_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  maxStreams: 100,
  streamReceiveWindow: 256 * 1024,
  maxStreamReceiveWindow: 16 * 1024 * 1024,
  connectionReceiveWindow: 1024 * 1024,
  maxConnectionReceiveWindow: 32 * 1024 * 1024,
  streamSendBuffer: 4 * 1024 * 1024,
  sendBuffer: 16 * 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  datagramSendQueue: 256 * 1024,
  datagramReceiveQueue: 1024 * 1024,
});

export type CongestionChoice = 'bbr' | 'cubic' | 'newreno' | CongestionControllerFactory;

export interface ConnectionOptions {
  /** decides stream id parity: the initiator opens even ids, the responder odd ids */
  role: 'initiator' | 'responder';
  now: number;
  /** congestion controller, default 'bbr' */
  congestion?: CongestionChoice;
  /** bytes the carrier adds to every payload (header, AEAD tag), default DATA_OVERHEAD (29) */
  overhead?: number;
  /** PMTU search ceiling in bytes of UDP payload: 1472 (IPv4) or 1452 (IPv6, the default) */
  maxUdpPayload?: number;
  limits?: Partial<ConnectionLimits>;
  /** PING after this much silence on our side, default 15 000 ms; 0 disables */
  keepaliveMs?: number;
  /** close after this much silence from the peer, default 30 000 ms; 0 disables */
  idleTimeoutMs?: number;
  /** our max_ack_delay (and the one assumed for the peer), default 25 ms */
  maxAckDelayMs?: number;
  /** RTT assumed before the first sample, default 333 ms (RFC 9002 §6.2.2) */
  initialRttMs?: number;
  /** randomness source (reserved for packet-number skipping); unused by the state machine now */
  random?: (n: number) => Uint8Array;
  /** component logger (e.g. `debug('srmudp:reliability')`); silent when absent. Logs drops,
   * connection errors, PTOs, PMTU changes and black holes; never payload bytes. */
  log?: (message: string) => void;
}

export interface Transmit {
  packetNumber: number;
  /** frames to seal */
  payload: Uint8Array;
  /** payload + overhead: the UDP payload size the carrier will emit */
  datagramSize: number;
}

export type ConnectionState = 'open' | 'closing' | 'draining' | 'closed';

export interface ConnectionStats {
  state: ConnectionState;
  congestion: string;
  rttMs: number;
  srttMs: number;
  /** an RTT sample (or a handshake seed) exists: before it, the RTT fields hold the 333 ms default */
  rttSampled: boolean;
  minRttMs: number;
  rttVarMs: number;
  cwnd: number;
  bytesInFlight: number;
  /** bytes per second (0 before the first RTT sample: not paced) */
  pacingRate: number;
  bytesSent: number;
  bytesReceived: number;
  packetsSent: number;
  packetsReceived: number;
  packetsLost: number;
  /** packets declared lost that were acknowledged later (reordering, not loss) */
  spuriousLosses: number;
  /** current packet reordering threshold (3, widened by spurious losses) */
  reorderingThreshold: number;
  /** packets that carried only an ACK (coalescing keeps these rare while data flows both ways) */
  ackOnlyPacketsSent: number;
  lossRate: number;
  retransmittedBytes: number;
  ptoCount: number;
  pmtu: number;
  blackHoles: number;
  openStreams: number;
  drops: {
    duplicatePackets: number;
    undecodablePackets: number;
    afterClose: number;
    datagramTooBig: number;
    datagramNoRoom: number;
    datagramReceiveOverflow: number;
    coreFrameDropped: number;
  };
}

const PACKET_THRESHOLD = 3; // RFC 9002 §6.1.1
const MAX_PACKET_THRESHOLD = 300;
const MAX_RECENT_LOST = 1024;
const MAX_PTO_BACKOFF = 16; // cap the exponent so timers stay finite
const BLACK_HOLE_LOSSES = 8;

function isAckEliciting(f: Frame): boolean {
  return f.type !== 'ack' && f.type !== 'padding' && f.type !== 'close';
}

/** A connection error raised while processing a packet: becomes CLOSE(code). */
class ConnError {
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {}
}

/**
 * The sans-IO reliability state machine of one connection: streams, messages, datagrams, ACKs,
 * loss recovery (RFC 9002), congestion control, pacing, flow control (RFC 9000 §4), PMTU
 * discovery (RFC 8899), keepalive, idle timeout and close. Inputs carry `now` (monotonic ms);
 * outputs are drained with `pollTransmit`, `pollTimeout` and `pollEvent`. Nothing here throws on
 * peer input: a protocol violation closes the connection with a code.
 */
export class Connection {
  private readonly role: 'initiator' | 'responder';
  readonly limits: Readonly<ConnectionLimits>;
  private readonly overhead: number;
  private readonly maxAckDelay: number;
  private readonly keepaliveMs: number;
  private readonly idleTimeoutMs: number;
  private readonly log: ((message: string) => void) | null;

  private stateValue: ConnectionState = 'open';
  private readonly rtt: RttEstimator;
  private cc: CongestionController;
  private readonly ccFactory: CongestionControllerFactory;
  private readonly initialRtt: number;
  private pacer: Pacer;
  private pmtud: Pmtud;
  private readonly acks: AckTracker;

  // --- sending ---
  private nextPn = 0;
  private sent: (SentPacket | null)[] = [];
  private sentHead = 0;
  private largestAcked = -1;
  private bytesInFlight = 0;
  private ackElicitingInFlight = 0;
  private lastAckElicitingSent = 0;
  private lossTime = Number.POSITIVE_INFINITY;
  private ptoCount = 0;
  private probesToSend = 0;
  private bigLossStreak = 0;
  // delivery-rate estimation
  private delivered = 0;
  private deliveredTime = 0;
  private firstSentTime = 0;
  private appLimitedUntil = 0;

  // --- streams ---
  private readonly streams = new Map<number, Stream>();
  private nextLocalIndex = 0;
  private peerMaxStreams = PROTOCOL_INITIAL_MAX_STREAMS;
  private nextPeerIndex = 0;
  private localMaxStreams: number;
  private closedPeerStreams = 0;
  private maxStreamsPending = false;
  private sendQueue: Stream[] = [];
  private readonly connSend = new SendCredit(PROTOCOL_INITIAL_MAX_DATA);
  private readonly connRecv: RecvWindow;
  private maxDataPending = false;
  private totalBuffered = 0;
  private readonly writableWaiters = new Set<Stream>();

  // --- messages ---
  private outMessages: OutMessage[] = [];
  private outMessageHead = 0;
  private nextOrderedOut = 0;
  private nextUnorderedOut = 0;
  private messageBytesQueued = 0;
  private messageWantWritable = false;
  private readonly inMessages = new MessageReassembly();
  private readonly retransmitMessages = new Set<OutMessage>();

  // --- datagrams and core frames ---
  private datagrams: Uint8Array[] = [];
  private datagramBytes = 0;
  private datagramRecvBytes = 0;
  private coreFrames: Frame[] = [];
  private coreFrameBytes = 0;
  private pingPending = false;
  private lastSent: number;
  private idleStart: number;
  private closeFrame: Frame | null = null;
  private closeToSend = false;
  private closeUntil = Number.POSITIVE_INFINITY;
  private lastCloseSent = Number.NEGATIVE_INFINITY;

  private nowHint: number;
  private elicitingSinceReceive = false;
  private readonly events: ConnectionEvent[] = [];
  private eventHead = 0;

  private readonly s = {
    bytesSent: 0,
    bytesReceived: 0,
    packetsSent: 0,
    packetsReceived: 0,
    packetsLost: 0,
    spuriousLosses: 0,
    ackOnlyPacketsSent: 0,
    retransmittedBytes: 0,
    duplicatePackets: 0,
    undecodablePackets: 0,
    afterClose: 0,
    datagramTooBig: 0,
    datagramNoRoom: 0,
    datagramReceiveOverflow: 0,
    coreFrameDropped: 0,
  };

  constructor(options: ConnectionOptions) {
    if (options.role !== 'initiator' && options.role !== 'responder') {
      throw new TypeError(`"role" expected 'initiator' or 'responder', got ${String(options.role)}`);
    }
    if (!Number.isFinite(options.now)) throw new TypeError('"now" expected a finite number');
    this.role = options.role;
    const limits = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
    for (const [k, v] of Object.entries(limits)) {
      if (!Number.isSafeInteger(v) || v < 0)
        throw new RangeError(`"limits.${k}" expected a non-negative integer`);
    }
    if (limits.streamReceiveWindow < PROTOCOL_INITIAL_MAX_STREAM_DATA) {
      throw new RangeError(`"limits.streamReceiveWindow" must be >= ${PROTOCOL_INITIAL_MAX_STREAM_DATA}`);
    }
    if (limits.connectionReceiveWindow < PROTOCOL_INITIAL_MAX_DATA) {
      throw new RangeError(`"limits.connectionReceiveWindow" must be >= ${PROTOCOL_INITIAL_MAX_DATA}`);
    }
    if (limits.maxStreams < PROTOCOL_INITIAL_MAX_STREAMS) {
      throw new RangeError(`"limits.maxStreams" must be >= ${PROTOCOL_INITIAL_MAX_STREAMS}`);
    }
    if (limits.maxStreamReceiveWindow < limits.streamReceiveWindow) {
      throw new RangeError('"limits.maxStreamReceiveWindow" must be >= streamReceiveWindow');
    }
    if (limits.maxConnectionReceiveWindow < limits.connectionReceiveWindow) {
      throw new RangeError('"limits.maxConnectionReceiveWindow" must be >= connectionReceiveWindow');
    }
    if (limits.maxConnectionReceiveWindow < limits.maxMessageSize + MESSAGE_CHARGE) {
      throw new RangeError('"limits.maxConnectionReceiveWindow" must exceed maxMessageSize');
    }
    this.limits = Object.freeze(limits);
    this.overhead = options.overhead ?? DATA_OVERHEAD;
    if (!Number.isSafeInteger(this.overhead) || this.overhead < 0 || this.overhead > 200) {
      throw new RangeError('"overhead" expected an integer in [0, 200]');
    }
    const maxUdp = options.maxUdpPayload ?? 1452;
    if (!Number.isSafeInteger(maxUdp) || maxUdp < BASE_PLPMTU || maxUdp > 65527) {
      throw new RangeError(`"maxUdpPayload" expected an integer in [${BASE_PLPMTU}, 65527]`);
    }
    this.log = options.log ?? null;
    this.maxAckDelay = options.maxAckDelayMs ?? 25;
    this.keepaliveMs = options.keepaliveMs ?? 15_000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 30_000;
    const now = options.now;
    this.initialRtt = options.initialRttMs ?? 333;
    if (!(this.initialRtt > 0)) throw new RangeError('"initialRttMs" expected a number > 0');
    this.rtt = new RttEstimator(this.initialRtt);
    this.pmtud = new Pmtud(maxUdp);
    this.ccFactory = resolveCongestion(options.congestion ?? 'bbr');
    this.cc = this.ccFactory({ maxDatagramSize: BASE_PLPMTU, now });
    this.pacer = new Pacer(now, BASE_PLPMTU);
    this.acks = new AckTracker(this.maxAckDelay);
    this.connRecv = new RecvWindow(PROTOCOL_INITIAL_MAX_DATA, limits.maxConnectionReceiveWindow);
    this.localMaxStreams = PROTOCOL_INITIAL_MAX_STREAMS;
    this.lastSent = now;
    this.idleStart = now;
    this.nowHint = now;
    // announce our real windows and stream limit in the first packet
    if (limits.connectionReceiveWindow > PROTOCOL_INITIAL_MAX_DATA) {
      this.connRecv.window = limits.connectionReceiveWindow;
      this.connRecv.limit = limits.connectionReceiveWindow;
      this.maxDataPending = true;
    }
    if (limits.maxStreams > PROTOCOL_INITIAL_MAX_STREAMS) {
      this.localMaxStreams = limits.maxStreams;
      this.maxStreamsPending = true;
    }
  }

  // ------------------------------------------------------------------ public API: state

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** Current PLPMTU in bytes of UDP payload. */
  get pmtu(): number {
    return this.pmtud.current;
  }

  /** Largest frame payload one packet can carry now. */
  maxPayload(): number {
    return this.pmtud.current - this.overhead;
  }

  get congestionController(): CongestionController {
    return this.cc;
  }

  // ------------------------------------------------------------------ public API: streams

  /** True when `openStream` would succeed (the peer's MAX_STREAMS allows another). */
  canOpenStream(): boolean {
    return this.stateValue === 'open' && this.nextLocalIndex < this.peerMaxStreams;
  }

  /** Opens a stream; throws SrmudpError STREAM_LIMIT when the peer's MAX_STREAMS is used up. */
  openStream(): number {
    this.checkOpen();
    if (this.nextLocalIndex >= this.peerMaxStreams) {
      throw new SrmudpError('STREAM_LIMIT', `peer allows ${this.peerMaxStreams} streams`);
    }
    const id = this.nextLocalIndex * 2 + (this.role === 'initiator' ? 0 : 1);
    this.nextLocalIndex++;
    this.createStream(id, false);
    return id;
  }

  /** Queues bytes on a stream; returns how many were accepted (0 when the buffers are full). */
  write(id: number, data: Uint8Array): number {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    this.checkOpen();
    const st = this.streamForApi(id);
    if (st.send.fin) throw new RangeError(`stream ${id} is finished`);
    if (st.resetCode >= 0) return 0;
    const room = Math.min(
      this.limits.streamSendBuffer - st.send.buffered(),
      this.limits.sendBuffer - this.totalBuffered,
      Number.MAX_SAFE_INTEGER - st.send.end,
    );
    const n = Math.max(0, Math.min(room, data.length));
    if (n < data.length) {
      st.wantWritable = true;
      this.writableWaiters.add(st);
    }
    if (n === 0) return 0;
    st.send.write(data.slice(0, n));
    this.totalBuffered += n;
    this.enqueue(st);
    return n;
  }

  /** Bytes `write` would accept on this stream now. */
  writable(id: number): number {
    const st = this.streamForApi(id);
    if (st.send.fin || st.resetCode >= 0) return 0;
    return Math.max(
      0,
      Math.min(
        this.limits.streamSendBuffer - st.send.buffered(),
        this.limits.sendBuffer - this.totalBuffered,
      ),
    );
  }

  /** Half-closes our side: a FIN follows the written bytes. */
  finish(id: number): void {
    const st = this.streamForApi(id);
    if (st.resetCode >= 0 || st.send.fin) return;
    st.send.fin = true;
    this.enqueue(st);
  }

  /** Reads up to `max` bytes in order; null when none are available now. */
  read(id: number, max = Number.MAX_SAFE_INTEGER): Uint8Array | null {
    const st = this.streams.get(id);
    if (st === undefined) {
      if (this.isKnownClosed(id)) return null;
      throw new RangeError(`unknown stream ${id}`);
    }
    st.readableNotified = false;
    if (st.recvReset || st.stopCode >= 0) return null;
    const out = st.recv.read(max);
    if (out !== null) {
      st.recvWindow.onConsume(out.length, this.nowHint, this.rtt.smoothed);
      if (st.recvWindow.pending) st.maxDataPending = true;
      this.connRecv.onConsume(out.length, this.nowHint, this.rtt.smoothed);
      if (this.connRecv.pending) this.maxDataPending = true;
    }
    this.checkRecvFinished(st);
    this.maybeForget(st);
    return out;
  }

  /** Resets our sending side (RESET_STREAM with `code`): unsent and unacknowledged data is dropped. */
  reset(id: number, code: number): void {
    checkCode(code);
    const st = this.streamForApi(id);
    this.resetSend(st, code);
  }

  /** Asks the peer to stop sending (STOP_SENDING); incoming data on the stream is discarded. */
  stopSending(id: number, code: number): void {
    checkCode(code);
    const st = this.streamForApi(id);
    if (st.stopCode >= 0 || st.recvReset) return;
    st.stopCode = code;
    st.stopPending = true;
    this.discardRecv(st);
  }

  /**
   * Bytes (and pending control frames, counted as 1 each) not yet sent or not yet acknowledged:
   * stream and message data, FINs, resets, queued datagrams and core frames. 0 together with
   * `stats().bytesInFlight === 0` means everything we were asked to send has been delivered (a
   * graceful close can proceed).
   */
  sendBacklog(): number {
    let n = this.totalBuffered + this.datagramBytes + this.coreFrameBytes;
    if (this.maxDataPending || this.maxStreamsPending || this.pingPending) n++;
    for (const st of this.streams.values()) {
      if (st.resetCode >= 0 ? !st.resetAcked : st.send.fin && !st.send.finAcked) n++;
      if (st.maxDataPending || st.stopPending) n++;
    }
    return n;
  }

  /**
   * True when the peer's FIN on stream `id` arrived and every byte before it is buffered or
   * already read (nothing more can arrive); false for an unknown stream, or one reset by the
   * peer or stopped by us. Unlike the 'stream_finished' event, it does not wait for the
   * application to read the bytes.
   */
  recvComplete(id: number): boolean {
    const st = this.streams.get(id);
    if (st === undefined || st.finalSize < 0 || st.recvReset || st.stopCode >= 0) return false;
    return st.recv.readOffset + st.recv.bufferedBytes >= st.finalSize;
  }

  /**
   * Feeds a round trip measured outside reliability (the handshake) as the first RTT sample, so
   * `stats().rttMs` and the PTO are real from the start (RFC 9002 §5.1 takes samples from the
   * handshake too). Ignored once an ACK gave a sample, or when `sampleMs` is not a finite
   * number >= 0 (a bad clock must not poison the estimator).
   */
  seedRtt(sampleMs: number): void {
    if (this.rtt.hasSample || !(sampleMs >= 0) || !Number.isFinite(sampleMs)) return;
    this.rtt.update(sampleMs, 0);
  }

  /** Ids of streams currently open. */
  streamIds(): number[] {
    return [...this.streams.keys()];
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
    const queued = this.totalBuffered;
    if (queued > 0 && queued + data.length > this.limits.sendBuffer) {
      this.messageWantWritable = true;
      return false;
    }
    const unordered = options.unordered === true;
    const id = unordered ? this.nextUnorderedOut++ : this.nextOrderedOut++;
    const m = new OutMessage(id, unordered, data.slice());
    this.outMessages.push(m);
    this.messageBytesQueued += data.length;
    this.totalBuffered += data.length;
    return true;
  }

  /** Sends an unreliable datagram; false when it is too big for one packet or the queue is full. */
  sendDatagram(data: Uint8Array): boolean {
    if (!(data instanceof Uint8Array)) throw new TypeError('"data" expected Uint8Array');
    if (this.stateValue !== 'open') return false;
    if (frameSize({ type: 'datagram', data }) > this.maxPayload()) {
      this.s.datagramTooBig++;
      return false;
    }
    if (this.datagramBytes + data.length > this.limits.datagramSendQueue) {
      this.s.datagramNoRoom++;
      return false;
    }
    this.datagrams.push(data.slice());
    this.datagramBytes += data.length;
    return true;
  }

  /** Largest datagram `sendDatagram` accepts now. */
  maxDatagramSize(): number {
    const room = this.maxPayload() - 1;
    return room - (room > 16383 ? 4 : room > 63 ? 2 : 1);
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
    const size = frameSize(frame);
    if (size > this.maxPayload() || this.coreFrameBytes + size > this.limits.datagramSendQueue) {
      this.s.coreFrameDropped++;
      return false;
    }
    this.coreFrames.push(frame);
    this.coreFrameBytes += size;
    return true;
  }

  /**
   * Closes at `now` with `code` (0 = no error) and a reason: CLOSE is the next packet sent (ahead
   * of any queued data, which is abandoned), then the connection stays closing for 3 PTO.
   */
  close(now: number, code = 0, reason = ''): void {
    if (!Number.isFinite(now)) throw new TypeError(`"now" expected a finite number, got ${now}`);
    checkCode(code);
    if (this.stateValue !== 'open') return;
    this.nowHint = Math.max(this.nowHint, now);
    this.enterClosing(code, reason, null, now);
  }

  /**
   * The path changed (migration to a new address, RFC 9000 §9.4): RTT, congestion state and
   * PMTU restart from their initial values; streams and outstanding data are kept.
   */
  resetPath(now: number): void {
    this.nowHint = Math.max(this.nowHint, now);
    this.rtt.reset(this.initialRtt);
    this.cc = this.ccFactory({ maxDatagramSize: BASE_PLPMTU, now });
    this.pmtud = new Pmtud(this.pmtud.maxPayload);
    this.pacer = new Pacer(now, BASE_PLPMTU);
    this.ptoCount = 0;
    this.bigLossStreak = 0;
  }

  // ------------------------------------------------------------------ public API: sans-IO

  /** Processes one received packet (its decrypted frames). Never throws on peer input. */
  handlePacket(now: number, packetNumber: number, payload: Uint8Array): void {
    this.nowHint = Math.max(this.nowHint, now);
    if (!Number.isSafeInteger(packetNumber) || packetNumber < 0 || !(payload instanceof Uint8Array)) {
      this.s.undecodablePackets++;
      return;
    }
    if (this.stateValue === 'closed' || this.stateValue === 'draining') {
      this.s.afterClose++;
      return;
    }
    let frames: Frame[];
    try {
      frames = decodeFrames(payload);
    } catch (e) {
      this.s.undecodablePackets++;
      this.log?.(`packet ${packetNumber}: undecodable frames (${(e as Error).message})`);
      if (this.stateValue === 'open') {
        this.enterClosing(ErrorCode.FRAME_ENCODING_ERROR, 'undecodable frames', 'FRAME_ENCODING_ERROR', now);
      }
      return;
    }
    if (this.stateValue === 'closing') {
      this.s.afterClose++;
      for (const f of frames) {
        if (f.type === 'close') {
          this.stateValue = 'draining';
          return;
        }
      }
      // RFC 9000 §10.2.1: answer with CLOSE again, rate-limited
      if (now - this.lastCloseSent >= this.rtt.smoothed) this.closeToSend = true;
      return;
    }
    let eliciting = false;
    for (let i = 0; i < frames.length; i++) {
      if (isAckEliciting(frames[i]!)) {
        eliciting = true;
        break;
      }
    }
    if (!this.acks.onPacket(now, packetNumber, eliciting)) {
      this.s.duplicatePackets++;
      this.log?.(`packet ${packetNumber}: duplicate, dropped`);
      return;
    }
    this.s.packetsReceived++;
    this.s.bytesReceived += payload.length + this.overhead;
    this.idleStart = now;
    this.elicitingSinceReceive = false;
    try {
      for (let i = 0; i < frames.length; i++) {
        this.onFrame(now, frames[i]!);
        if (this.stateValue !== 'open') return;
      }
    } catch (e) {
      if (e instanceof ConnError) {
        this.enterClosing(e.code, e.reason, errorName(e.code), now);
        return;
      }
      // a bug must not take the process down on peer input: close with INTERNAL_ERROR
      this.enterClosing(ErrorCode.INTERNAL_ERROR, String(e), 'INTERNAL_ERROR', now);
    }
  }

  /**
   * Next datagram payload to seal and send, or null. `maxDatagramSize` caps this one datagram
   * (payload + overhead), e.g. core's anti-amplification budget before address validation:
   * when the current PMTU does not fit nothing is sent, and a PMTU probe is sent only if it fits.
   */
  pollTransmit(now: number, maxDatagramSize = Number.POSITIVE_INFINITY): Transmit | null {
    this.nowHint = Math.max(this.nowHint, now);
    if (maxDatagramSize < this.pmtud.current) return null;
    const st = this.stateValue;
    if (st === 'closed' || st === 'draining') return null;
    if (st === 'closing') {
      if (!this.closeToSend || this.closeFrame === null) return null;
      this.closeToSend = false;
      this.lastCloseSent = now;
      return this.finishPacket(now, [this.closeFrame], false, null, false, 0);
    }
    return this.buildPacket(now, maxDatagramSize);
  }

  /** Absolute time (ms) of the next timer, or null. */
  pollTimeout(): number | null {
    const st = this.stateValue;
    if (st === 'closed') return null;
    if (st === 'closing' || st === 'draining') return this.closeUntil;
    let t = Number.POSITIVE_INFINITY;
    if (this.acks.pending) t = Math.min(t, this.acks.deadline);
    t = Math.min(t, this.lossDetectionTimer());
    if (this.idleTimeoutMs > 0) t = Math.min(t, this.idleDeadline());
    if (this.keepaliveMs > 0) t = Math.min(t, this.lastSent + this.keepaliveMs);
    const search = this.pmtud.nextSearchTime();
    if (search > this.nowHint) t = Math.min(t, search);
    // pacing: when data waits only for the pacer
    if (this.hasElicitingWork() && this.bytesInFlight + this.pmtud.current <= this.cc.window()) {
      const ns = this.pacer.nextSendTime(this.nowHint, this.pmtud.current);
      if (ns > this.nowHint) t = Math.min(t, ns);
    }
    return Number.isFinite(t) ? t : null;
  }

  /** Call when the time returned by `pollTimeout` has come. */
  handleTimeout(now: number): void {
    this.nowHint = Math.max(this.nowHint, now);
    const st = this.stateValue;
    if (st === 'closed') return;
    if (st === 'closing' || st === 'draining') {
      if (now >= this.closeUntil) this.stateValue = 'closed';
      return;
    }
    if (this.idleTimeoutMs > 0 && now >= this.idleDeadline()) {
      // RFC 9000 §10.1: silently closed
      this.log?.('idle timeout');
      this.stateValue = 'closed';
      this.releaseAll();
      this.emit({
        type: 'closed',
        code: ErrorCode.IDLE_TIMEOUT,
        reason: 'idle timeout',
        remote: false,
        error: 'IDLE_TIMEOUT',
      });
      return;
    }
    if (this.lossDetectionTimer() <= now) this.onLossDetectionTimeout(now);
    if (this.keepaliveMs > 0 && now >= this.lastSent + this.keepaliveMs) this.pingPending = true;
  }

  /** Next event, or null. */
  pollEvent(): ConnectionEvent | null {
    if (this.eventHead >= this.events.length) {
      if (this.eventHead > 0) {
        this.events.length = 0;
        this.eventHead = 0;
      }
      return null;
    }
    const ev = this.events[this.eventHead++]!;
    if (ev.type === 'message') {
      // the application took the message: its bytes and book-keeping charge are free again
      this.connRecv.onConsume(ev.data.length + MESSAGE_CHARGE, this.nowHint, this.rtt.smoothed);
      if (this.connRecv.pending) this.maxDataPending = true;
    } else if (ev.type === 'datagram') {
      this.datagramRecvBytes -= ev.data.length;
    }
    return ev;
  }

  stats(): ConnectionStats {
    const s = this.s;
    return {
      state: this.stateValue,
      congestion: this.cc.name,
      rttMs: this.rtt.latest,
      srttMs: this.rtt.smoothed,
      rttSampled: this.rtt.hasSample,
      minRttMs: this.rtt.hasSample ? this.rtt.min : 0,
      rttVarMs: this.rtt.variance,
      cwnd: this.cc.window(),
      bytesInFlight: this.bytesInFlight,
      pacingRate: Number.isFinite(this.currentPacingRate()) ? this.currentPacingRate() * 1000 : 0,
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
      packetsSent: s.packetsSent,
      packetsReceived: s.packetsReceived,
      packetsLost: s.packetsLost,
      spuriousLosses: s.spuriousLosses,
      reorderingThreshold: this.packetThreshold,
      ackOnlyPacketsSent: s.ackOnlyPacketsSent,
      lossRate: s.packetsSent === 0 ? 0 : Math.max(0, s.packetsLost - s.spuriousLosses) / s.packetsSent,
      retransmittedBytes: s.retransmittedBytes,
      ptoCount: this.ptoCount,
      pmtu: this.pmtud.current,
      blackHoles: this.pmtud.blackHoles,
      openStreams: this.streams.size,
      drops: {
        duplicatePackets: s.duplicatePackets,
        undecodablePackets: s.undecodablePackets,
        afterClose: s.afterClose,
        datagramTooBig: s.datagramTooBig,
        datagramNoRoom: s.datagramNoRoom,
        datagramReceiveOverflow: s.datagramReceiveOverflow,
        coreFrameDropped: s.coreFrameDropped,
      },
    };
  }

  // ------------------------------------------------------------------ receiving frames

  private onFrame(now: number, f: Frame): void {
    switch (f.type) {
      case 'padding':
      case 'ping':
        return;
      case 'ack':
        this.onAckFrame(now, f);
        return;
      case 'stream':
        this.onStreamFrame(now, f);
        return;
      case 'message':
        this.onMessageFrame(now, f);
        return;
      case 'datagram':
        if (this.datagramRecvBytes + f.data.length > this.limits.datagramReceiveQueue) {
          this.s.datagramReceiveOverflow++;
          return;
        }
        this.datagramRecvBytes += f.data.length;
        this.emit({ type: 'datagram', data: f.data });
        return;
      case 'max_data':
        if (this.connSend.raise(f.max)) {
          // streams blocked on connection credit left the round-robin: bring them back
          for (const st of this.streams.values()) if (st.send.sentEnd < st.send.end) this.enqueue(st);
        }
        return;
      case 'max_stream_data': {
        const st = this.streamForPeer(f.streamId);
        if (st?.sendCredit.raise(f.max)) this.enqueue(st);
        return;
      }
      case 'max_streams':
        if (f.max > this.peerMaxStreams) this.peerMaxStreams = Math.min(f.max, 2 ** 50);
        return;
      case 'reset_stream':
        this.onResetStream(now, f.streamId, f.code, f.finalSize);
        return;
      case 'stop_sending': {
        const st = this.streamForPeer(f.streamId);
        if (st === null) return;
        if (st.resetCode < 0 && !st.sendDone()) {
          this.resetSend(st, f.code);
          this.emit({ type: 'stream_stopped', streamId: st.id, code: f.code });
        }
        return;
      }
      case 'close':
        this.stateValue = 'draining';
        this.closeUntil = now + 3 * this.pto();
        this.releaseAll();
        this.emit({ type: 'closed', code: f.code, reason: f.reason, remote: true, error: null });
        return;
      case 'path_challenge':
      case 'path_response':
      case 'relay':
        this.emit({ type: 'frame', frame: f });
        return;
    }
  }

  private onAckFrame(now: number, f: AckFrame): void {
    const ranges = f.ranges;
    if (ranges.length === 0) throw new ConnError(ErrorCode.FRAME_ENCODING_ERROR, 'empty ACK');
    let prevStart = Number.POSITIVE_INFINITY;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      if (!(r.start <= r.end) || r.end + 1 >= prevStart) {
        throw new ConnError(ErrorCode.FRAME_ENCODING_ERROR, 'ACK ranges not descending and disjoint');
      }
      prevStart = r.start;
    }
    const largest = ranges[0]!.end;
    if (largest >= this.nextPn) {
      // RFC 9000 §13.1: acknowledging a packet we never sent
      throw new ConnError(ErrorCode.PROTOCOL_VIOLATION, 'ACK of a packet never sent');
    }
    const ackDelay = Math.min(f.delay / 1000, this.maxAckDelay);
    let ackedBytes = 0;
    let largestNewly: SentPacket | null = null;
    // rate sample
    let rsPriorDelivered = -1;
    let rsPriorTime = 0;
    let rsSendElapsed = 0;
    let rsAppLimited = false;
    let rsRtt = -1;
    let newlyAckedAny = false;
    const touched: Stream[] = [];
    const sent = this.sent;
    if (this.recentLost.length > 0) this.detectSpuriousLosses(ranges);
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      const last = Math.min(r.end - this.sentBasePn, sent.length - 1);
      for (let j = this.findSent(r.start); j <= last; j++) {
        const p = sent[j];
        if (p === null || p === undefined || p.acked || p.lost) continue;
        p.acked = true;
        sent[j] = null;
        newlyAckedAny = true;
        if (largestNewly === null || p.pn > largestNewly.pn) largestNewly = p;
        if (p.inFlight) {
          this.bytesInFlight -= p.size;
          ackedBytes += p.size;
          if (p.ackEliciting) this.ackElicitingInFlight--;
          this.delivered += p.size;
          this.deliveredTime = now;
          if (p.delivered >= rsPriorDelivered) {
            rsPriorDelivered = p.delivered;
            rsPriorTime = p.deliveredTime;
            rsSendElapsed = p.time - p.firstSentTime;
            rsAppLimited = p.appLimited;
            rsRtt = now - p.time;
            this.firstSentTime = p.time;
          }
        }
        if (p.ackLargest >= 0) this.acks.onAckAcked(p.ackLargest);
        if (p.mtuProbe) this.onProbeAcked(now, p);
        else if (p.size > BASE_PLPMTU) this.bigLossStreak = 0;
        if (p.frames !== null) this.onFramesAcked(p.frames, touched);
      }
    }
    if (!newlyAckedAny || largestNewly === null) return;
    if (largest > this.largestAcked) this.largestAcked = largest;
    // RFC 9002 §5.1: an RTT sample when the largest acknowledged is newly acked and ack-eliciting
    if (largestNewly.pn === largest && largestNewly.ackEliciting) {
      this.rtt.update(now - largestNewly.time, ackDelay);
    }
    if (this.appLimitedUntil > 0 && this.delivered > this.appLimitedUntil) this.appLimitedUntil = 0;
    this.advanceSentHead();
    this.detectLostPackets(now);
    // RFC 9002 §6.2.1: the PTO backoff resets when an acknowledgement arrives
    this.ptoCount = 0;
    if (ackedBytes > 0) {
      let rsDelivered = 0;
      let interval = 0;
      if (rsPriorDelivered >= 0) {
        rsDelivered = this.delivered - rsPriorDelivered;
        const ackElapsed = this.deliveredTime - rsPriorTime;
        interval = Math.max(rsSendElapsed, ackElapsed);
        // an interval below min RTT would overestimate the rate (tcp_rate.c)
        if (interval < this.rtt.minRtt() || interval <= 0) rsDelivered = 0;
      }
      const rate: RateSample = {
        delivered: rsDelivered,
        interval,
        isAppLimited: rsAppLimited,
        priorDelivered: Math.max(rsPriorDelivered, 0),
        rtt: rsRtt,
      };
      this.cc.onAck(now, {
        ackedBytes,
        largestAckedSentTime: largestNewly.time,
        bytesInFlight: this.bytesInFlight,
        delivered: this.delivered,
        rate,
        rtt: this.rtt,
        appLimited: rsAppLimited,
      });
    }
    for (const st of touched) {
      this.maybeForget(st);
    }
    this.notifyWritable();
  }

  private onFramesAcked(frames: SentFrame[], touched: Stream[]): void {
    for (let k = 0; k < frames.length; k++) {
      const fr = frames[k]!;
      switch (fr.kind) {
        case SentKind.Stream: {
          const st = fr.stream!;
          if (st.resetCode >= 0) break;
          const before = st.send.base;
          st.send.onAck(fr.offset, fr.length, fr.fin);
          const freed = st.send.base - before;
          this.totalBuffered -= freed;
          touched.push(st);
          break;
        }
        case SentKind.Message: {
          const m = fr.msg!;
          m.buf.onAck(fr.offset, fr.length, fr.fin);
          if (m.done()) {
            // freed lazily from the queue head; account now
            if (m.charged >= 0) {
              this.messageBytesQueued -= m.total;
              this.totalBuffered -= m.total;
              m.charged = -1;
              this.retransmitMessages.delete(m);
            }
          }
          break;
        }
        case SentKind.ResetStream:
          fr.stream!.resetAcked = true;
          touched.push(fr.stream!);
          break;
        default:
          break;
      }
    }
  }

  private onStreamFrame(now: number, f: StreamFrame): void {
    const st = this.streamForPeer(f.streamId);
    const end = f.offset + f.data.length;
    if (end > Number.MAX_SAFE_INTEGER) throw new ConnError(ErrorCode.FLOW_CONTROL_ERROR, 'offset overflow');
    if (st === null) return;
    this.chargeStream(st, end);
    if (st.finalSize >= 0 && end > st.finalSize) {
      throw new ConnError(ErrorCode.FINAL_SIZE_ERROR, 'data beyond the final size');
    }
    if (f.fin) {
      if (st.finalSize >= 0 && st.finalSize !== end) {
        throw new ConnError(ErrorCode.FINAL_SIZE_ERROR, 'final size changed');
      }
      if (end < st.recvHighest)
        throw new ConnError(ErrorCode.FINAL_SIZE_ERROR, 'final size below received data');
      st.finalSize = end;
    }
    if (st.recvReset || st.stopCode >= 0) {
      // discarded: credit goes straight back
      this.discardRecv(st);
      this.maybeForget(st);
      return;
    }
    if (f.data.length > 0) st.recv.insert(f.offset, f.data);
    if (st.recv.hasReadable() && !st.readableNotified) {
      st.readableNotified = true;
      this.emit({ type: 'readable', streamId: st.id });
    }
    this.checkRecvFinished(st);
    void now;
  }

  /** Flow-control accounting for data up to `end` on a stream (RFC 9000 §4.1, §4.5). */
  private chargeStream(st: Stream, end: number): void {
    if (end <= st.recvHighest) return;
    if (!st.recvWindow.onReceive(end)) {
      throw new ConnError(ErrorCode.FLOW_CONTROL_ERROR, `stream ${st.id} data beyond the advertised limit`);
    }
    const delta = end - st.recvHighest;
    st.recvHighest = end;
    if (!this.connRecv.onReceive(this.connRecv.received + delta)) {
      throw new ConnError(ErrorCode.FLOW_CONTROL_ERROR, 'connection data beyond the advertised limit');
    }
  }

  private onResetStream(_now: number, id: number, code: number, finalSize: number): void {
    const st = this.streamForPeer(id);
    if (st === null) return;
    if (st.finalSize >= 0 && st.finalSize !== finalSize) {
      throw new ConnError(ErrorCode.FINAL_SIZE_ERROR, 'final size changed by RESET_STREAM');
    }
    if (finalSize < st.recvHighest)
      throw new ConnError(ErrorCode.FINAL_SIZE_ERROR, 'final size below received data');
    this.chargeStream(st, finalSize);
    st.finalSize = finalSize;
    if (st.recvReset) return;
    st.recvReset = true;
    this.discardRecv(st);
    if (!st.recvClosedNotified && st.stopCode < 0) {
      st.recvClosedNotified = true;
      this.emit({ type: 'stream_reset', streamId: st.id, code });
    } else st.recvClosedNotified = true;
    this.maybeForget(st);
  }

  /** Drops unread bytes of a stream whose receive side is reset or stopped, returning credit. */
  private discardRecv(st: Stream): void {
    const unread = st.recvHighest - st.recv.readOffset;
    st.recv.clear();
    st.recv.readOffset = st.recvHighest;
    if (unread > 0) {
      this.connRecv.onConsume(unread, this.nowHint, this.rtt.smoothed);
      if (this.connRecv.pending) this.maxDataPending = true;
    }
  }

  private checkRecvFinished(st: Stream): void {
    if (st.recvClosedNotified || st.recvReset || st.stopCode >= 0) return;
    if (st.finalSize >= 0 && st.recv.readOffset >= st.finalSize) {
      st.recvClosedNotified = true;
      this.emit({ type: 'stream_finished', streamId: st.id });
    }
  }

  private onMessageFrame(now: number, f: MessageFrame): void {
    if (f.total > this.limits.maxMessageSize) {
      throw new ConnError(ErrorCode.MESSAGE_TOO_LARGE, `message of ${f.total} bytes`);
    }
    const re = this.inMessages;
    if (re.isDone(f.id, f.unordered)) return;
    const map = f.unordered ? re.unordered : re.ordered;
    let m = map.get(f.id);
    if (m === undefined) {
      if (!this.connRecv.onReceive(this.connRecv.received + MESSAGE_CHARGE)) {
        throw new ConnError(ErrorCode.FLOW_CONTROL_ERROR, 'message beyond the advertised limit');
      }
      m = new InMessage(f.total);
      map.set(f.id, m);
      // a message larger than the window can only arrive if the window grows (bounded)
      this.connRecv.ensureWindow(2 * (f.total + MESSAGE_CHARGE), now, this.rtt.smoothed);
      if (this.connRecv.pending) this.maxDataPending = true;
    } else if (m.total !== f.total) {
      throw new ConnError(ErrorCode.PROTOCOL_VIOLATION, 'message total changed');
    }
    if (m.complete) return;
    const end = f.offset + f.data.length;
    if (end > m.highest) {
      if (!this.connRecv.onReceive(this.connRecv.received + (end - m.highest))) {
        throw new ConnError(ErrorCode.FLOW_CONTROL_ERROR, 'message beyond the advertised limit');
      }
    }
    if (!m.add(f.offset, f.data)) return;
    if (f.unordered) {
      map.delete(f.id);
      re.unorderedDone.add(f.id, f.id + 1);
      this.emit({ type: 'message', data: m.data!, unordered: true });
      return;
    }
    // ordered: release every complete message at the head
    while (true) {
      const head = re.ordered.get(re.nextOrdered);
      if (head === undefined || !head.complete) break;
      re.ordered.delete(re.nextOrdered);
      re.nextOrdered++;
      this.emit({ type: 'message', data: head.data!, unordered: false });
    }
  }

  // ------------------------------------------------------------------ streams: internals

  private createStream(id: number, peer: boolean): Stream {
    const st = new Stream(
      id,
      peer,
      PROTOCOL_INITIAL_MAX_STREAM_DATA,
      PROTOCOL_INITIAL_MAX_STREAM_DATA,
      this.limits.maxStreamReceiveWindow,
    );
    if (this.limits.streamReceiveWindow > PROTOCOL_INITIAL_MAX_STREAM_DATA) {
      st.recvWindow.window = this.limits.streamReceiveWindow;
      st.recvWindow.limit = this.limits.streamReceiveWindow;
      st.maxDataPending = true;
    }
    this.streams.set(id, st);
    return st;
  }

  /** The stream a peer frame refers to, opening peer streams implicitly; null = closed, ignore. */
  private streamForPeer(id: number): Stream | null {
    const st = this.streams.get(id);
    if (st !== undefined) return st;
    const local = (id & 1) === (this.role === 'initiator' ? 0 : 1);
    const index = Math.floor(id / 2);
    if (local) {
      if (index >= this.nextLocalIndex) {
        throw new ConnError(ErrorCode.STREAM_STATE_ERROR, `stream ${id} was never opened`);
      }
      return null;
    }
    if (index < this.nextPeerIndex) return null;
    if (index >= this.localMaxStreams) {
      throw new ConnError(ErrorCode.STREAM_LIMIT_ERROR, `stream ${id} beyond MAX_STREAMS`);
    }
    let opened: Stream | null = null;
    while (this.nextPeerIndex <= index) {
      const sid = this.nextPeerIndex * 2 + (this.role === 'initiator' ? 1 : 0);
      this.nextPeerIndex++;
      opened = this.createStream(sid, true);
      this.emit({ type: 'stream_opened', streamId: sid });
    }
    return opened;
  }

  private isKnownClosed(id: number): boolean {
    if (!Number.isSafeInteger(id) || id < 0) return false;
    const local = (id & 1) === (this.role === 'initiator' ? 0 : 1);
    const index = Math.floor(id / 2);
    return local ? index < this.nextLocalIndex : index < this.nextPeerIndex;
  }

  private streamForApi(id: number): Stream {
    const st = this.streams.get(id);
    if (st === undefined) throw new RangeError(`unknown stream ${id}`);
    return st;
  }

  private resetSend(st: Stream, code: number): void {
    if (st.resetCode >= 0 || st.sendDone()) return;
    st.resetCode = code;
    st.resetPending = true;
    this.totalBuffered -= st.send.buffered();
    st.send.clear();
    st.wantWritable = false;
    this.writableWaiters.delete(st);
    this.notifyWritable();
  }

  private enqueue(st: Stream): void {
    if (!st.queued) {
      st.queued = true;
      this.sendQueue.push(st);
    }
  }

  /** Forgets a stream whose both halves are done; peer streams return MAX_STREAMS credit. */
  private maybeForget(st: Stream): void {
    if (!this.streams.has(st.id) || !st.sendDone() || !st.recvDone()) return;
    // a window update for a stream whose final size is known is never sent
    if (st.finalSize >= 0 || st.recvReset) st.maxDataPending = false;
    if (st.maxDataPending || st.stopPending || st.resetPending) return;
    this.streams.delete(st.id);
    this.writableWaiters.delete(st);
    if (st.peerInitiated) {
      this.closedPeerStreams++;
      const next = this.closedPeerStreams + this.limits.maxStreams;
      if (next > this.localMaxStreams) {
        this.localMaxStreams = next;
        this.maxStreamsPending = true;
      }
    }
  }

  private notifyWritable(): void {
    if (this.writableWaiters.size > 0) {
      for (const st of this.writableWaiters) {
        if (st.resetCode >= 0) {
          this.writableWaiters.delete(st);
          continue;
        }
        const room = Math.min(
          this.limits.streamSendBuffer - st.send.buffered(),
          this.limits.sendBuffer - this.totalBuffered,
        );
        if (room >= Math.min(this.limits.streamSendBuffer / 2, this.limits.sendBuffer / 4)) {
          st.wantWritable = false;
          this.writableWaiters.delete(st);
          this.emit({ type: 'writable', streamId: st.id });
        }
      }
    }
    if (this.messageWantWritable && this.totalBuffered <= this.limits.sendBuffer / 2) {
      this.messageWantWritable = false;
      this.emit({ type: 'message_writable' });
    }
  }

  private releaseAll(): void {
    this.sendQueue = [];
    this.datagrams = [];
    this.coreFrames = [];
  }

  // ------------------------------------------------------------------ loss detection

  /** pn of sent[0]; every packet number has a slot, so index = pn - sentBasePn */
  private sentBasePn = 0;

  /** Index in `sent` of packet `pn`, clamped to [sentHead, sent.length]. */
  private findSent(pn: number): number {
    const idx = pn - this.sentBasePn;
    if (idx <= this.sentHead) return this.sentHead;
    return Math.min(idx, this.sent.length);
  }

  private advanceSentHead(): void {
    const sent = this.sent;
    while (this.sentHead < sent.length && sent[this.sentHead] === null) this.sentHead++;
    if (this.sentHead > 1024 && this.sentHead * 2 > sent.length) {
      this.sent = sent.slice(this.sentHead);
      this.sentBasePn += this.sentHead;
      this.sentHead = 0;
    }
  }

  /**
   * Packet numbers declared lost recently (sorted, bounded), so that an acknowledgement that
   * arrives for one of them later reveals a spurious loss: the packet was only reordered.
   */
  private readonly recentLost: number[] = [];
  /** RFC 9002 §6.1.1 kPacketThreshold, widened by spurious losses (RFC 8985 §6.2 idea; Linux's
   * adaptive reordering does the same, capped at 300 by tcp_max_reordering). */
  private packetThreshold = PACKET_THRESHOLD;
  /** RFC 9002 §6.1.2 kTimeThreshold (9/8), widened by spurious losses up to 2. */
  private lossTimeFactor = 9 / 8;

  private rememberLost(pn: number): void {
    const a = this.recentLost;
    let i = a.length;
    while (i > 0 && (a[i - 1] as number) > pn) i--;
    a.splice(i, 0, pn);
    if (a.length > MAX_RECENT_LOST) a.splice(0, a.length - MAX_RECENT_LOST);
  }

  /** An ACK covering a packet we declared lost: it was reordered, not lost (RFC 9002 §6.1, RFC 8985 §6.2). */
  private detectSpuriousLosses(ranges: readonly { start: number; end: number }[]): void {
    const a = this.recentLost;
    const lo = a[0] as number;
    const hi = a[a.length - 1] as number;
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i]!;
      if (r.end < lo || r.start > hi) continue;
      for (let k = a.length - 1; k >= 0; k--) {
        const pn = a[k] as number;
        if (pn < r.start || pn > r.end) continue;
        a.splice(k, 1);
        this.s.spuriousLosses++;
        // the packet arrived although `largestAcked - pn` later packets had been acknowledged
        const distance = this.largestAcked - pn + 1;
        if (distance > this.packetThreshold) this.packetThreshold = Math.min(distance, MAX_PACKET_THRESHOLD);
        this.lossTimeFactor = Math.min(this.lossTimeFactor + 1 / 8, 2);
      }
    }
  }

  /** RFC 9002 §6.1: packet and time thresholds. */
  private detectLostPackets(now: number): void {
    this.lossTime = Number.POSITIVE_INFINITY;
    if (this.largestAcked < 0) return;
    const lossDelay = this.rtt.lossDelay(this.lossTimeFactor);
    const sent = this.sent;
    let lostBytes = 0;
    let largestLostTime = Number.NEGATIVE_INFINITY;
    let firstLost: SentPacket | null = null;
    let lastLost: SentPacket | null = null;
    let lostCount = 0;
    const lastIdx = Math.min(this.largestAcked - this.sentBasePn, sent.length - 1);
    for (let j = this.sentHead; j <= lastIdx; j++) {
      const p = sent[j];
      if (p === null || p === undefined) continue;
      // the same expression as the timer below, so a timer firing at lossTime always declares
      if (p.time + lossDelay <= now || this.largestAcked >= p.pn + this.packetThreshold) {
        sent[j] = null;
        p.lost = true;
        if (p.ackEliciting && !p.mtuProbe) this.rememberLost(p.pn);
        this.onPacketLost(now, p);
        if (p.inFlight && !p.mtuProbe) {
          lostBytes += p.size;
          if (p.time > largestLostTime) largestLostTime = p.time;
          if (p.ackEliciting) {
            if (firstLost === null) firstLost = p;
            lastLost = p;
            lostCount++;
          }
        }
      } else {
        const t = p.time + lossDelay;
        if (t < this.lossTime) this.lossTime = t;
      }
    }
    this.advanceSentHead();
    if (lostBytes > 0) {
      // RFC 9002 §7.6: persistent congestion when every packet across a long enough span was lost
      let persistent = false;
      if (firstLost !== null && lastLost !== null && this.rtt.hasSample) {
        const duration = (this.rtt.smoothed + Math.max(4 * this.rtt.variance, 1) + this.maxAckDelay) * 3;
        persistent =
          lastLost.time - firstLost.time > duration && lastLost.pn - firstLost.pn + 1 === lostCount;
      }
      this.cc.onLoss(now, {
        lostBytes,
        largestLostSentTime: largestLostTime,
        persistentCongestion: persistent,
        bytesInFlight: this.bytesInFlight,
        delivered: this.delivered,
      });
    }
  }

  private onPacketLost(now: number, p: SentPacket): void {
    if (p.inFlight) {
      this.bytesInFlight -= p.size;
      if (p.ackEliciting) this.ackElicitingInFlight--;
    }
    if (p.mtuProbe) {
      // (a probe from before resetPath belongs to the old search)
      if (p.pn === this.pmtud.probePn) this.pmtud.onProbeLost(now);
      return;
    }
    this.s.packetsLost++;
    if (p.size > BASE_PLPMTU && this.pmtud.current > BASE_PLPMTU) {
      this.bigLossStreak++;
      if (this.bigLossStreak >= BLACK_HOLE_LOSSES) this.onBlackHole(now);
    }
    if (p.frames !== null) this.requeue(p.frames);
  }

  /** Queues the content of a lost (or PTO-probed) packet for retransmission. */
  private requeue(frames: SentFrame[]): void {
    for (let k = 0; k < frames.length; k++) {
      const fr = frames[k]!;
      switch (fr.kind) {
        case SentKind.Stream: {
          const st = fr.stream!;
          if (st.resetCode >= 0 || !this.streams.has(st.id)) break;
          st.send.onLost(fr.offset, fr.length, fr.fin);
          this.enqueue(st);
          break;
        }
        case SentKind.Message: {
          const m = fr.msg!;
          if (m.done()) break;
          m.buf.onLost(fr.offset, fr.length, fr.fin);
          this.retransmitMessages.add(m);
          break;
        }
        case SentKind.MaxData:
          this.maxDataPending = true;
          break;
        case SentKind.MaxStreamData: {
          const st = fr.stream!;
          if (this.streams.has(st.id) && st.finalSize < 0 && !st.recvReset && st.stopCode < 0) {
            st.maxDataPending = true;
          }
          break;
        }
        case SentKind.MaxStreams:
          this.maxStreamsPending = true;
          break;
        case SentKind.ResetStream:
          if (!fr.stream!.resetAcked) fr.stream!.resetPending = true;
          break;
        case SentKind.StopSending: {
          const st = fr.stream!;
          if (this.streams.has(st.id) && !st.recvReset) st.stopPending = true;
          break;
        }
      }
    }
  }

  private onBlackHole(now: number): void {
    this.log?.(`PMTU black hole at ${this.pmtud.current} bytes: back to ${BASE_PLPMTU}`);
    this.bigLossStreak = 0;
    this.pmtud.onBlackHole(now);
    this.cc.onMtuChange(this.pmtud.current);
    this.emit({ type: 'pmtu', pmtu: this.pmtud.current });
  }

  private onProbeAcked(now: number, p: SentPacket): void {
    if (p.pn !== this.pmtud.probePn) return;
    const before = this.pmtud.current;
    const mtu = this.pmtud.onProbeAcked(now);
    if (mtu !== before) {
      this.log?.(`PMTU ${before} -> ${mtu}`);
      this.cc.onMtuChange(mtu);
      this.emit({ type: 'pmtu', pmtu: mtu });
    }
  }

  private pto(): number {
    return this.rtt.pto(this.maxAckDelay);
  }

  private lossDetectionTimer(): number {
    if (this.lossTime !== Number.POSITIVE_INFINITY) return this.lossTime;
    if (this.ackElicitingInFlight <= 0) return Number.POSITIVE_INFINITY;
    return this.lastAckElicitingSent + this.pto() * 2 ** Math.min(this.ptoCount, MAX_PTO_BACKOFF);
  }

  private idleDeadline(): number {
    return this.idleStart + Math.max(this.idleTimeoutMs, 3 * this.pto());
  }

  /** RFC 9002 §6.2 / Appendix A.9. */
  private onLossDetectionTimeout(now: number): void {
    if (this.lossTime !== Number.POSITIVE_INFINITY) {
      this.detectLostPackets(now);
      return;
    }
    this.ptoCount++;
    this.probesToSend = 2;
    this.log?.(`PTO #${this.ptoCount} at ${now.toFixed(1)} ms`);
    // RACK-TLP style tail probe: resend the oldest outstanding data (it is new data to the peer
    // if the tail was lost); a PING is sent when there is nothing to resend
    const sent = this.sent;
    let found = false;
    for (let j = this.sentHead; j < sent.length; j++) {
      const p = sent[j];
      if (p === null || p === undefined || !p.ackEliciting || p.frames === null) continue;
      this.requeue(p.frames);
      found = true;
      break;
    }
    if (!found) this.pingPending = true;
    if (this.ptoCount >= 3 && this.pmtud.current > BASE_PLPMTU) this.onBlackHole(now);
  }

  // ------------------------------------------------------------------ sending

  /** Bytes per ms; before the first RTT sample the window alone limits (no pacing). */
  private currentPacingRate(): number {
    if (!this.rtt.hasSample) return Number.POSITIVE_INFINITY;
    const r = this.cc.pacingRate();
    if (r > 0) return r;
    const srtt = Math.max(this.rtt.smoothed, 0.001);
    // RFC 9002 §7.7: N = 1.25; twice that in slow start so the window can double per RTT
    const gain = this.cc.inSlowStart?.() === true ? 2 : 1.25;
    return (gain * this.cc.window()) / srtt;
  }

  private hasControlWork(): boolean {
    if (this.maxDataPending || this.maxStreamsPending || this.pingPending) return true;
    if (this.coreFrames.length > 0 || this.datagrams.length > 0) return true;
    for (const st of this.streams.values()) {
      if (st.maxDataPending || st.stopPending || st.resetPending) return true;
    }
    return false;
  }

  private hasElicitingWork(): boolean {
    if (this.hasControlWork()) return true;
    if (this.retransmitMessages.size > 0) return true;
    const connCredit = this.connSend.available();
    if (this.outMessageHead < this.outMessages.length) {
      const m = this.outMessages[this.outMessageHead]!;
      if (m.charged >= 0 && (m.buf.sentEnd < m.total || (m.total === 0 && !m.buf.finSent))) {
        if (connCredit > 0 || m.charged > 0) return true;
      }
    }
    for (let i = 0; i < this.sendQueue.length; i++) {
      if (this.sendQueue[i]!.hasSendWork(connCredit)) return true;
    }
    return false;
  }

  private buildPacket(now: number, sizeCap: number): Transmit | null {
    const mtu = this.pmtud.current;
    const maxPayload = mtu - this.overhead;
    const probe = this.probesToSend > 0;
    const cwnd = this.cc.window();
    const cwndOk = probe || this.bytesInFlight + mtu <= cwnd;
    this.pacer.update(now, this.currentPacingRate(), mtu);
    const paceOk = probe || this.pacer.nextSendTime(now, mtu) <= now;
    const ackDue = this.acks.shouldSend(now);

    // RFC 8899 probe: PING + PADDING of the probe size, alone in its packet
    if (cwndOk && paceOk && !probe) {
      const size = this.pmtud.wantProbe(now);
      if (size > 0 && size <= sizeCap && this.bytesInFlight + size <= cwnd && size - this.overhead > 1) {
        const frames: Frame[] = [{ type: 'ping' }, { type: 'padding', length: size - this.overhead - 1 }];
        const t = this.finishPacket(now, frames, true, null, true, 0);
        this.pmtud.onProbeSent(t.packetNumber);
        return t;
      }
    }

    const frames: Frame[] = [];
    const sentFrames: SentFrame[] = [];
    let room = maxPayload;
    let ackFrame: AckFrame | null = null;
    if (this.acks.pending) {
      ackFrame = this.acks.build(now);
      if (ackFrame !== null) {
        const sz = frameSize(ackFrame);
        if (sz <= room) {
          frames.push(ackFrame);
          room -= sz;
        } else ackFrame = null;
      }
    }
    let eliciting = false;
    if (cwndOk && paceOk) {
      room = this.fillControl(frames, sentFrames, room);
      room = this.fillMessages(frames, sentFrames, room, true);
      room = this.fillStreams(frames, sentFrames, room, true);
      room = this.fillMessages(frames, sentFrames, room, false);
      room = this.fillStreams(frames, sentFrames, room, false);
      for (let i = 0; i < frames.length; i++) {
        if (isAckEliciting(frames[i]!)) {
          eliciting = true;
          break;
        }
      }
      if (!eliciting && (this.probesToSend > 0 || this.pingPending)) {
        frames.push({ type: 'ping' });
        room -= 1;
        eliciting = true;
      }
      // RFC 9002 §7.8 / delivery-rate estimation: nothing to send while the window is open
      if (!eliciting && this.bytesInFlight + mtu <= cwnd) {
        this.appLimitedUntil = Math.max(this.delivered + this.bytesInFlight, 1);
      }
    }
    if (!eliciting) {
      if (ackFrame === null || !ackDue) return null;
      this.s.ackOnlyPacketsSent++;
      return this.finishPacket(now, frames, false, null, false, ackFrame.ranges[0]!.end);
    }
    if (this.probesToSend > 0) this.probesToSend--;
    return this.finishPacket(
      now,
      frames,
      true,
      sentFrames.length > 0 ? sentFrames : null,
      false,
      ackFrame === null ? -1 : ackFrame.ranges[0]!.end,
    );
  }

  private finishPacket(
    now: number,
    frames: Frame[],
    eliciting: boolean,
    sentFrames: SentFrame[] | null,
    mtuProbe: boolean,
    ackLargest: number,
  ): Transmit {
    // room accounting bounds the size; a probe is larger than the current PLPMTU
    const bound = mtuProbe ? this.pmtud.maxPayload : this.pmtud.current - this.overhead;
    // carved from the shared slab (a fresh Uint8Array per packet costs ~1 µs in V8)
    const buf = sharedSlab.take(Math.max(bound, 64));
    let off = 0;
    for (let i = 0; i < frames.length; i++) off = encodeFrame(frames[i]!, buf, off);
    if (off > buf.length) throw new Error(`internal: packet of ${off} bytes overflows ${buf.length}`);
    const size = off;
    const payload = sharedSlab.trim(buf, size);
    const pn = this.nextPn++;
    const datagramSize = size + this.overhead;
    const hasAck = frames.length > 0 && frames[0]!.type === 'ack';
    if (hasAck) this.acks.onAckSent();
    const p = new SentPacket(pn, now, datagramSize, eliciting, eliciting, mtuProbe, sentFrames);
    p.ackLargest = hasAck ? ackLargest : -1;
    if (eliciting) {
      if (this.bytesInFlight === 0) {
        this.firstSentTime = now;
        this.deliveredTime = now;
      }
      p.delivered = this.delivered;
      p.deliveredTime = this.deliveredTime;
      p.firstSentTime = this.firstSentTime;
      p.appLimited = this.appLimitedUntil > 0;
      this.bytesInFlight += datagramSize;
      this.ackElicitingInFlight++;
      if (!this.elicitingSinceReceive) {
        // RFC 9000 §10.1: the first ack-eliciting packet sent after a receipt restarts the idle timer
        this.elicitingSinceReceive = true;
        this.idleStart = now;
      }
      this.lastAckElicitingSent = now;
      this.pacer.onSend(datagramSize);
      this.cc.onPacketSent(now, datagramSize, this.bytesInFlight);
    }
    // every pn is recorded so `sent` stays dense (index = pn - base)
    this.sent.push(eliciting ? p : null);
    if (!eliciting) this.advanceSentHead();
    this.lastSent = now;
    this.s.packetsSent++;
    this.s.bytesSent += datagramSize;
    if (eliciting) this.pingPending = false;
    return { packetNumber: pn, payload, datagramSize };
  }

  private fillControl(frames: Frame[], sent: SentFrame[], room: number): number {
    if (this.maxDataPending) {
      const f: Frame = { type: 'max_data', max: this.connRecv.limit };
      const sz = frameSize(f);
      if (sz <= room) {
        frames.push(f);
        sent.push(new SentFrame(SentKind.MaxData, null, null, 0, 0, false));
        room -= sz;
        this.maxDataPending = false;
        this.connRecv.pending = false;
      }
    }
    if (this.maxStreamsPending) {
      const f: Frame = { type: 'max_streams', max: this.localMaxStreams };
      const sz = frameSize(f);
      if (sz <= room) {
        frames.push(f);
        sent.push(new SentFrame(SentKind.MaxStreams, null, null, 0, 0, false));
        room -= sz;
        this.maxStreamsPending = false;
      }
    }
    for (const st of this.streams.values()) {
      if (room < 24) break;
      if (st.maxDataPending) {
        st.maxDataPending = false;
        st.recvWindow.pending = false;
        if (st.finalSize < 0 && !st.recvReset && st.stopCode < 0) {
          const f: Frame = { type: 'max_stream_data', streamId: st.id, max: st.recvWindow.limit };
          room -= frameSize(f);
          frames.push(f);
          sent.push(new SentFrame(SentKind.MaxStreamData, st, null, 0, 0, false));
        }
      }
      if (st.resetPending) {
        st.resetPending = false;
        const f: Frame = {
          type: 'reset_stream',
          streamId: st.id,
          code: st.resetCode,
          finalSize: st.send.end,
        };
        room -= frameSize(f);
        frames.push(f);
        sent.push(new SentFrame(SentKind.ResetStream, st, null, 0, 0, false));
      }
      if (st.stopPending) {
        st.stopPending = false;
        const f: Frame = { type: 'stop_sending', streamId: st.id, code: st.stopCode };
        room -= frameSize(f);
        frames.push(f);
        sent.push(new SentFrame(SentKind.StopSending, st, null, 0, 0, false));
      }
    }
    while (this.coreFrames.length > 0) {
      const f = this.coreFrames[0]!;
      const sz = frameSize(f);
      if (sz > room) break;
      this.coreFrames.shift();
      this.coreFrameBytes -= sz;
      frames.push(f);
      room -= sz;
    }
    while (this.datagrams.length > 0) {
      const d = this.datagrams[0]!;
      const f: Frame = { type: 'datagram', data: d };
      const sz = frameSize(f);
      if (sz > room) {
        // does not fit even an empty packet any more (PMTU fell): drop and count
        if (sz > this.maxPayload()) {
          this.datagrams.shift();
          this.datagramBytes -= d.length;
          this.s.datagramTooBig++;
          continue;
        }
        break;
      }
      this.datagrams.shift();
      this.datagramBytes -= d.length;
      frames.push(f);
      room -= sz;
    }
    return room;
  }

  private fillMessages(frames: Frame[], sent: SentFrame[], room: number, retransmit: boolean): number {
    if (retransmit) {
      if (this.retransmitMessages.size === 0) return room;
      for (const m of this.retransmitMessages) {
        if (room < 16) break;
        room = this.sendMessageRanges(m, frames, sent, room, true);
        if (m.buf.lost.isEmpty() && !m.buf.finLost) this.retransmitMessages.delete(m);
      }
      return room;
    }
    while (room >= 16 && this.outMessageHead < this.outMessages.length) {
      const m = this.outMessages[this.outMessageHead]!;
      if (m.charged < 0 || (m.buf.sentEnd >= m.total && (m.total > 0 || m.buf.finSent))) {
        // fully sent (maybe not yet acknowledged): the next message may start
        this.outMessageHead++;
        if (this.outMessageHead > 256 && this.outMessageHead * 2 > this.outMessages.length) {
          this.outMessages = this.outMessages.slice(this.outMessageHead);
          this.outMessageHead = 0;
        }
        continue;
      }
      const before = room;
      room = this.sendMessageRanges(m, frames, sent, room, false);
      if (room === before) break; // blocked by flow control
    }
    return room;
  }

  private sendMessageRanges(
    m: OutMessage,
    frames: Frame[],
    sent: SentFrame[],
    room: number,
    retx: boolean,
  ): number {
    const b = m.buf;
    const total = m.total;
    if (retx) {
      while (room >= 16 && (!b.lost.isEmpty() || b.finLost)) {
        if (total === 0) {
          const f: Frame = {
            type: 'message',
            id: m.id,
            offset: 0,
            total: 0,
            unordered: m.unordered,
            data: EMPTY,
          };
          room -= frameSize(f);
          frames.push(f);
          sent.push(new SentFrame(SentKind.Message, null, m, 0, 0, true));
          b.finLost = false;
          continue;
        }
        if (b.lost.isEmpty()) {
          b.finLost = false;
          break;
        }
        const s = b.lost.startAt(0);
        const e = b.lost.endAt(0);
        const oh = messageFrameOverhead(m.id, s, total, Math.min(e - s, room));
        const len = Math.min(e - s, room - oh);
        if (len <= 0) break;
        const data = b.read(s, len);
        b.lost.remove(s, s + len);
        const fin = s + len === total;
        if (fin) b.finLost = false;
        const f: Frame = { type: 'message', id: m.id, offset: s, total, unordered: m.unordered, data };
        room -= oh + len;
        frames.push(f);
        sent.push(new SentFrame(SentKind.Message, null, m, s, len, fin));
        this.s.retransmittedBytes += len;
      }
      return room;
    }
    // new data, charged to connection credit (highest offset + MESSAGE_CHARGE at the start)
    let credit = this.connSend.available();
    if (m.charged === 0) {
      if (credit < MESSAGE_CHARGE + Math.min(total, 1)) return room;
      this.connSend.used += MESSAGE_CHARGE;
      m.charged = MESSAGE_CHARGE;
      credit -= MESSAGE_CHARGE;
    }
    if (total === 0) {
      const f: Frame = {
        type: 'message',
        id: m.id,
        offset: 0,
        total: 0,
        unordered: m.unordered,
        data: EMPTY,
      };
      room -= frameSize(f);
      frames.push(f);
      sent.push(new SentFrame(SentKind.Message, null, m, 0, 0, true));
      b.finSent = true;
      return room;
    }
    const s = b.sentEnd;
    const avail = Math.min(total - s, credit);
    if (avail <= 0) return room;
    const oh = messageFrameOverhead(m.id, s, total, Math.min(avail, room));
    const len = Math.min(avail, room - oh);
    if (len <= 0) return room;
    const data = b.read(s, len);
    b.sentEnd = s + len;
    this.connSend.used += len;
    m.charged += len;
    const fin = s + len === total;
    if (fin) b.finSent = true;
    frames.push({ type: 'message', id: m.id, offset: s, total, unordered: m.unordered, data });
    sent.push(new SentFrame(SentKind.Message, null, m, s, len, fin));
    return room - oh - len;
  }

  private fillStreams(frames: Frame[], sent: SentFrame[], room: number, retransmit: boolean): number {
    const q = this.sendQueue;
    let n = q.length;
    while (n-- > 0 && room >= 16 && q.length > 0) {
      const st = q.shift()!;
      const before = room;
      room = this.sendStreamData(st, frames, sent, room, retransmit);
      const more = this.streams.has(st.id) && st.hasSendWork(this.connSend.available());
      if (more) q.push(st);
      else st.queued = false;
      if (room === before && !more) continue;
    }
    return room;
  }

  private sendStreamData(
    st: Stream,
    frames: Frame[],
    sent: SentFrame[],
    room: number,
    retransmit: boolean,
  ): number {
    if (st.resetCode >= 0) return room;
    const b = st.send;
    if (retransmit) {
      while (room >= 16 && !b.lost.isEmpty()) {
        const s = b.lost.startAt(0);
        const e = b.lost.endAt(0);
        const oh = streamFrameOverhead(st.id, s, Math.min(e - s, room));
        const len = Math.min(e - s, room - oh);
        if (len <= 0) break;
        const data = b.read(s, len);
        b.lost.remove(s, s + len);
        const fin = b.fin && s + len === b.end;
        if (fin) b.finLost = false;
        frames.push({ type: 'stream', streamId: st.id, offset: s, fin, data });
        sent.push(new SentFrame(SentKind.Stream, st, null, s, len, fin));
        this.s.retransmittedBytes += len;
        room -= oh + len;
      }
      if (b.finLost && b.lost.isEmpty() && b.sentEnd === b.end && room >= 16) {
        // the FIN alone was lost
        const f: StreamFrame = { type: 'stream', streamId: st.id, offset: b.end, fin: true, data: EMPTY };
        room -= frameSize(f);
        frames.push(f);
        sent.push(new SentFrame(SentKind.Stream, st, null, b.end, 0, true));
        b.finLost = false;
      }
      return room;
    }
    const avail = Math.min(b.end - b.sentEnd, st.sendCredit.available(), this.connSend.available());
    if (avail > 0) {
      const s = b.sentEnd;
      const oh = streamFrameOverhead(st.id, s, Math.min(avail, room));
      const len = Math.min(avail, room - oh);
      if (len <= 0) return room;
      const data = b.read(s, len);
      b.sentEnd = s + len;
      st.sendCredit.used += len;
      this.connSend.used += len;
      const fin = b.fin && b.sentEnd === b.end;
      if (fin) b.finSent = true;
      frames.push({ type: 'stream', streamId: st.id, offset: s, fin, data });
      sent.push(new SentFrame(SentKind.Stream, st, null, s, len, fin));
      return room - oh - len;
    }
    if (b.fin && !b.finSent && b.sentEnd === b.end) {
      const f: StreamFrame = { type: 'stream', streamId: st.id, offset: b.end, fin: true, data: EMPTY };
      room -= frameSize(f);
      frames.push(f);
      sent.push(new SentFrame(SentKind.Stream, st, null, b.end, 0, true));
      b.finSent = true;
    }
    return room;
  }

  // ------------------------------------------------------------------ close

  private enterClosing(code: number, reason: string, error: string | null, now: number): void {
    this.log?.(`closing: code ${code}${error === null ? '' : ` (${error})`} ${reason}`);
    this.stateValue = 'closing';
    const r = reason.length > 256 ? reason.slice(0, 256) : reason;
    this.closeFrame = { type: 'close', code, reason: r };
    this.closeToSend = true;
    this.closeUntil = now + 3 * this.pto();
    this.releaseAll();
    this.emit({ type: 'closed', code, reason: r, remote: false, error });
  }

  private checkOpen(): void {
    if (this.stateValue !== 'open') throw new SrmudpError('CONNECTION_CLOSED', 'connection is closed');
  }

  private emit(ev: ConnectionEvent): void {
    this.events.push(ev);
  }
}

const EMPTY = new Uint8Array(0);

function checkCode(code: number): void {
  if (!Number.isSafeInteger(code) || code < 0)
    throw new RangeError(`"code" expected a non-negative integer, got ${code}`);
}

function resolveCongestion(c: CongestionChoice): CongestionControllerFactory {
  if (typeof c === 'function') return c;
  if (c === 'bbr') return bbr;
  if (c === 'cubic') return cubic;
  if (c === 'newreno') return newReno;
  throw new TypeError(`"congestion" expected 'bbr', 'cubic', 'newreno' or a factory, got ${String(c)}`);
}
