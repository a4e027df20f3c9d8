/**
 * Packet assembly: when a packet may leave (congestion window, pacer, PTO probes bypass both),
 * what goes in it and in which order (an ACK when one is pending; then connection and stream
 * control frames, core frames and datagrams; lost message and stream ranges; new message and
 * stream data; a PING when a probe or keepalive is owed and nothing else elicits an ACK), PMTU
 * probes (RFC 8899: PING + PADDING alone in their packet), and the book-keeping of a sent packet
 * (packet number, bytes in flight, delivery-rate stamp, pacer, congestion controller, idle
 * timer). ACK-only packets go out only when an ACK is due (RFC 9000 §13.2.1).
 */
import { encodeFrame, type Frame, frameSize, sharedSlab } from '@srmudp/wire';
import type { AckTracker } from './ack-tracker.js';
import type { ConnectionConfig } from './config.js';
import type { Datagrams } from './datagrams.js';
import type { DeliveryRateSampler } from './delivery-rate.js';
import type { ConnectionFlow } from './flow-control.js';
import type { Liveness } from './liveness.js';
import { type LossRecovery, sendTimeLimit } from './loss-recovery.js';
import type { Messages } from './messages.js';
import type { PathState } from './paths.js';
import { type SentFrame, SentPacket } from './sent-packet.js';
import type { Counters } from './stats.js';
import type { StreamSet } from './streams.js';

export interface Transmit {
  packetNumber: number;
  /** frames to seal */
  payload: Uint8Array;
  /** payload + overhead: the UDP payload size the carrier will emit */
  datagramSize: number;
  /**
   * With the `headroom` option: `datagramSize` bytes whose bytes [headroom, headroom +
   * payload.length) are `payload` (the same memory), the rest free for the carrier's header and
   * tag, so it can seal in place; null without it. Fresh memory per packet, like `payload`.
   */
  datagram: Uint8Array | null;
  /** the path it was built for (the active path, or the probed one): where it must go */
  path: PathState;
}

/** Frames that make the receiver acknowledge (RFC 9002 §2): all but ACK, PADDING and CLOSE. */
export function isAckEliciting(f: Frame): boolean {
  return f.type !== 'ack' && f.type !== 'padding' && f.type !== 'close';
}

/** The parts of a connection a packet is assembled from. */
export interface PacketSources {
  readonly config: ConnectionConfig;
  readonly acks: AckTracker;
  readonly recovery: LossRecovery;
  readonly rate: DeliveryRateSampler;
  readonly flow: ConnectionFlow;
  readonly streams: StreamSet;
  /** null until the connection first needs it (then set once) */
  messages: Messages | null;
  /** CONTROL messages (frame 0x1d), sent before application messages and streams; null until first
   * needed */
  control: Messages | null;
  /** datagrams and core frames; null until first needed */
  datagrams: Datagrams | null;
  readonly liveness: Liveness;
  readonly counters: Counters;
}

export class PacketBuilder {
  /** a PING is owed (keepalive, RTT warm-up, or a PTO with nothing to resend) */
  pingPending = false;
  /** the PING owed is the last RTT warm-up one: the packet that carries it ends the provisional
   * samples (rtt.ts) at the time it leaves, which may be a later turn than the one that asked */
  warmupEnds = false;
  private readonly overhead: number;
  private readonly headroom: number;
  /** the largest packet number the ACK frame of the last pushAck acknowledges, or -1 (none appended) */
  private ackedLargest = -1;

  constructor(private readonly src: PacketSources) {
    this.overhead = src.config.overhead;
    this.headroom = src.config.headroom;
  }

  /** Control frames are waiting (they are sent even when no data is). */
  hasControlWork(): boolean {
    const s = this.src;
    if (s.flow.maxDataPending || s.streams.maxStreamsPending || this.pingPending) return true;
    if (s.datagrams?.hasWork() === true) return true;
    return s.streams.hasControlWork();
  }

  /** Something ack-eliciting is waiting to be sent. */
  hasElicitingWork(): boolean {
    if (this.hasControlWork()) return true;
    const s = this.src;
    const connCredit = s.flow.send.available();
    return (
      s.control?.hasSendWork(connCredit) === true ||
      s.messages?.hasSendWork(connCredit) === true ||
      s.streams.hasSendWork(connCredit)
    );
  }

  /** The next packet on `path`, or null; `sizeCap` bounds the datagram (anti-amplification). */
  build(now: number, sizeCap: number, path: PathState): Transmit | null {
    const s = this.src;
    const recovery = s.recovery;
    const mtu = path.pmtud.current;
    const maxPayload = mtu - this.overhead;
    const probe = recovery.probesToSend > 0;
    const cwnd = path.cc.window();
    const cwndOk = probe || recovery.bytesInFlight + mtu <= cwnd;
    path.pacer.update(now, path.pacingRate(), mtu);
    const paceOk = probe || path.pacer.nextSendTime(now, mtu) <= now;
    const ackDue = s.acks.shouldSend(now);

    // RFC 8899 probe: PING + PADDING of the probe size, alone in its packet, except the
    // connection's first packet (see firstProbe)
    if (cwndOk && paceOk && !probe) {
      const size = path.pmtud.wantProbe(now);
      if (size > 0 && size <= sizeCap && recovery.bytesInFlight + size <= cwnd && size - this.overhead > 1) {
        const t =
          recovery.nextPn === 0
            ? this.firstProbe(now, size, path)
            : this.finish(
                now,
                [{ type: 'ping' }, { type: 'padding', length: size - this.overhead - 1 }],
                true,
                null,
                true,
                0,
                path,
              );
        path.pmtud.onProbeSent(t.packetNumber);
        return t;
      }
    }

    const frames: Frame[] = [];
    const sentFrames: SentFrame[] = [];
    let room = maxPayload;
    let acked = -1;
    // The ACK frame is built only when it will leave: due, or riding on an ack-eliciting packet.
    // A receiver polls after every batch of datagrams with an ACK pending but rarely due; building
    // it to throw it away was most of such a poll's cost.
    if (
      s.acks.pending &&
      (ackDue || (cwndOk && paceOk && (recovery.probesToSend > 0 || this.hasElicitingWork())))
    ) {
      room = this.pushAck(now, frames, room);
      acked = this.ackedLargest;
    }
    let eliciting = false;
    if (cwndOk && paceOk) {
      room = s.flow.writeMaxData(frames, sentFrames, room);
      room = s.streams.writeMaxStreams(frames, sentFrames, room);
      room = s.streams.writeControl(frames, sentFrames, room);
      if (s.datagrams !== null) room = s.datagrams.write(frames, room, maxPayload);
      const control = s.control;
      const messages = s.messages;
      if (control !== null) {
        room = control.write(frames, sentFrames, room, true);
        room = control.write(frames, sentFrames, room, false);
      }
      if (messages !== null) room = messages.write(frames, sentFrames, room, true);
      room = s.streams.writeData(frames, sentFrames, room, true);
      if (messages !== null) room = messages.write(frames, sentFrames, room, false);
      room = s.streams.writeData(frames, sentFrames, room, false);
      for (let i = 0; i < frames.length; i++) {
        if (isAckEliciting(frames[i]!)) {
          eliciting = true;
          break;
        }
      }
      if (!eliciting && (recovery.probesToSend > 0 || this.pingPending)) {
        frames.push({ type: 'ping' });
        room -= 1;
        eliciting = true;
      }
      // RFC 9002 §7.8 / delivery-rate estimation: nothing to send while the window is open
      if (!eliciting && recovery.bytesInFlight + mtu <= cwnd) s.rate.onAppLimited(recovery.bytesInFlight);
    }
    if (!eliciting) {
      if (acked === -1 || !ackDue) return null;
      s.counters.ackOnlyPacketsSent++;
      return this.finish(now, frames, false, null, false, acked, path);
    }
    if (recovery.probesToSend > 0) recovery.probesToSend--;
    return this.finish(now, frames, true, sentFrames.length > 0 ? sentFrames : null, false, acked, path);
  }

  /**
   * The connection's first packet, when it is a PMTU probe (it is at once: the search starts
   * with the connection, first at the ceiling): besides PING + PADDING it carries what a fresh
   * connection owes anyway, the ACK of the peer's first packet and our MAX_DATA / MAX_STREAMS,
   * so that a connection starts with one datagram each way instead of three (RFC 9000 §14.4
   * allows other frames in a PMTU probe; RFC 8899 §4.1 probes may carry data the sender can
   * repeat). The PING in it already was the key confirmation core owes an IK responder, so its
   * loss on a path that drops the ceiling costs nothing new: MAX_DATA / MAX_STREAMS are queued
   * again when the probe is declared lost, an ACK is rebuilt from the peer's next packet.
   */
  private firstProbe(now: number, size: number, path: PathState): Transmit {
    const s = this.src;
    const frames: Frame[] = [];
    const sentFrames: SentFrame[] = [];
    // room for the PING and a PADDING frame of at least one byte
    let room = size - this.overhead - 2;
    let acked = -1;
    if (s.acks.pending) {
      room = this.pushAck(now, frames, room);
      acked = this.ackedLargest;
    }
    room = s.flow.writeMaxData(frames, sentFrames, room);
    room = s.streams.writeMaxStreams(frames, sentFrames, room);
    frames.push({ type: 'ping' });
    frames.push({ type: 'padding', length: room + 1 });
    return this.finish(now, frames, true, sentFrames.length > 0 ? sentFrames : null, true, acked, path);
  }

  /**
   * Builds the pending ACK frame and appends it when it fits in `room`: the room left after it
   * (`room` when none was appended). `ackedLargest` then names its largest acknowledged packet
   * number, or -1 when none was appended.
   */
  private pushAck(now: number, frames: Frame[], room: number): number {
    this.ackedLargest = -1;
    const ack = this.src.acks.build(now);
    if (ack === null) return room;
    const size = frameSize(ack);
    if (size > room) return room;
    frames.push(ack);
    this.ackedLargest = ack.ranges[0]!.end;
    return room - size;
  }

  /**
   * A packet of path-probing frames for a path that is not the active one: not in flight, not
   * counted by any congestion controller or pacer (see `ReliableConnection.buildProbe`).
   */
  buildProbe(now: number, frames: readonly Frame[], path: PathState, sizeCap: number): Transmit | null {
    let size = this.overhead;
    for (let i = 0; i < frames.length; i++) size += frameSize(frames[i]!);
    if (frames.length === 0 || size > sizeCap || size > path.pmtud.current) return null;
    return this.finish(now, frames as Frame[], false, null, false, 0, path);
  }

  /** A packet holding only CLOSE (closing state: not ack-eliciting, not in flight). */
  buildClose(now: number, close: Frame, path: PathState): Transmit {
    return this.finish(now, [close], false, null, false, 0, path);
  }

  private finish(
    now: number,
    frames: Frame[],
    eliciting: boolean,
    sentFrames: SentFrame[] | null,
    mtuProbe: boolean,
    ackLargest: number,
    path: PathState,
  ): Transmit {
    const s = this.src;
    // room accounting bounds the size; a probe is larger than the current PLPMTU
    const bound = mtuProbe ? path.pmtud.maxPayload : path.pmtud.current - this.overhead;
    // carved from the shared slab (a fresh Uint8Array per packet costs ~1 µs in V8), with room
    // for the carrier's header and tag around the frames when it seals in place (headroom)
    const headroom = this.headroom;
    const tailroom = headroom > 0 ? this.overhead - headroom : 0;
    const buf = sharedSlab.take(headroom + Math.max(bound, 64) + tailroom);
    let off = headroom;
    for (let i = 0; i < frames.length; i++) off = encodeFrame(frames[i]!, buf, off);
    if (off > buf.length - tailroom)
      throw new Error(
        `internal: packet of ${off - headroom} bytes overflows ${buf.length - headroom - tailroom}`,
      );
    const size = off - headroom;
    let payload: Uint8Array;
    let datagram: Uint8Array | null = null;
    if (headroom > 0) {
      datagram = sharedSlab.trim(buf, off + tailroom);
      payload = datagram.subarray(headroom, off);
    } else {
      payload = sharedSlab.trim(buf, size);
    }
    const pn = s.recovery.nextPn++;
    const datagramSize = size + this.overhead;
    const hasAck = frames.length > 0 && frames[0]!.type === 'ack';
    if (hasAck) s.acks.onAckSent();
    const p = new SentPacket(pn, now, datagramSize, eliciting, eliciting, mtuProbe, sentFrames);
    p.ackLargest = hasAck ? ackLargest : -1;
    if (eliciting) s.rate.onPacketSent(p, now, s.recovery.bytesInFlight);
    s.recovery.onPacketSent(p, sendTimeLimit(path.cc.window(), s.flow.recv.window));
    if (eliciting) {
      path.pacer.onSend(datagramSize);
      path.cc.onPacketSent(now, datagramSize, s.recovery.bytesInFlight);
      this.pingPending = false;
      if (this.warmupEnds) {
        this.warmupEnds = false;
        // (unless the path changed since: the old path's warm-up ended then, connection.ts)
        if (path.rtt.provisionalUntil === Number.POSITIVE_INFINITY) path.rtt.provisionalUntil = now;
      }
    }
    s.liveness.onSent(now, eliciting);
    s.counters.packetsSent++;
    s.counters.bytesSent += datagramSize;
    return { packetNumber: pn, payload, datagramSize, datagram, path };
  }
}
